# device_bytes.gp - bytes sent and received per device, from devices.csv.
#   out   output file   term  png|svg   dir  the run's folder
if (term eq "svg") { set terminal svg size 900,540 dynamic font "sans,12" } else { set terminal pngcairo size 900,540 font "sans,10" }
set output out
set datafile separator ","
set title "Bytes per device"
set ylabel "MB"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -45 noenhanced
set key top right
set grid ytics
plot dir."/devices.csv" using ($6/1e6):xtic(1) title "sent", \
     "" using ($7/1e6) title "received", \
     "" using ($8/1e6) title "of which gossip"
