# device_bytes.gp - per device, two stacked bars: what it sent (sidecar
# data, gossip and control, segments resent after loss) and what it
# received (useful: verified sidecars; falsified by byzantine sources;
# other waste: cancelled, duplicate or unfinished transfers and framing;
# gossip and control). From devices.csv rows without the header
# (make_report.sh keeps the 30 busiest). Columns: 1 device, 6 bytes_sent,
# 7 bytes_received, 9 data_sent, 10 data_received, 18 data_useful,
# 19 garbage_rx, 20 wasted_rx, 21 resent_tx.
#   out   output file   term  png|svg   file  the CSV   title  plot title
if (term eq "svg") { set terminal svg size 1000,680 dynamic font "sans,11" } else { set terminal pngcairo size 1000,680 font "sans,10" }
set output out
set datafile separator ","
set title title."\n(left bar: sent, right bar: received)" noenhanced
set ylabel "MB"
set style fill solid 0.9 border rgb "#404040"
set boxwidth 0.36
set xtics rotate by -35 noenhanced
set key below maxrows 4 noenhanced
set grid ytics
set yrange [0:*]
set offsets 0.6, 0.6, 0, 0
plot file using ($0-0.19):(($6+$21)/1e6):xtic(1) with boxes lc rgb "#9467bd" title "sent: resent segments (loss)", \
     "" using ($0-0.19):($6/1e6) with boxes lc rgb "#aec7e8" title "sent: gossip and control", \
     "" using ($0-0.19):($9/1e6) with boxes lc rgb "#1f77b4" title "sent: sidecar data", \
     "" using ($0+0.19):($7/1e6) with boxes lc rgb "#c7c7c7" title "received: gossip and control", \
     "" using ($0+0.19):(($18+$19+$20)/1e6) with boxes lc rgb "#ff7f0e" title "received: wasted (cancelled, duplicate, unfinished, framing)", \
     "" using ($0+0.19):(($18+$19)/1e6) with boxes lc rgb "#d62728" title "received: falsified (byzantine)", \
     "" using ($0+0.19):($18/1e6) with boxes lc rgb "#2ca02c" title "received: useful (verified sidecars)"
