# device_bytes.gp - bytes sent and received per device, from a copy of
# devices.csv (make_report.sh keeps the 30 busiest).
#   out   output file   term  png|svg   file  the CSV   title  plot title
if (term eq "svg") { set terminal svg size 900,540 dynamic font "sans,12" } else { set terminal pngcairo size 900,540 font "sans,10" }
set output out
set datafile separator ","
set title title noenhanced
set ylabel "MB"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -45 noenhanced
set key top right
set grid ytics
# every ::1 skips the header line
plot file every ::1 using ($6/1e6):xtic(1) title "sent", \
     "" every ::1 using ($7/1e6) title "received", \
     "" every ::1 using ($8/1e6) title "gossip (both ways)"
