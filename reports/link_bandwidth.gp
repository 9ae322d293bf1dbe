# link_bandwidth.gp - bandwidth over time of the busiest links, from
# link_series.csv (t_s, then MB/s per link, one column each).
#   out   output file   term  png|svg   dir  the run's folder   ncols  columns
if (term eq "svg") { set terminal svg size 900,540 dynamic font "sans,12" } else { set terminal pngcairo size 900,540 font "sans,10" }
set output out
set datafile separator ","
set title "Bandwidth over time per link"
set xlabel "simulated time (s)"
set ylabel "MB/s"
set key outside right top noenhanced
set grid
plot for [i=2:ncols] dir."/link_series.csv" using 1:i with steps lw 2 title columnheader(i)
