# latency_cdf.gp - cumulative distribution of the run's latencies.
# make_report.sh splits latency.csv into one sorted file per kind
# (lat_<kind>.dat, one value in ms per line) and passes:
#   out   output file        term  png|svg
#   kinds space-separated kinds present      dir  the run's folder
if (term eq "svg") { set terminal svg size 900,540 dynamic font "sans,12" } else { set terminal pngcairo size 900,540 font "sans,10" }
set output out
set title "Latency CDF"
set xlabel "milliseconds (log scale)"
set ylabel "fraction of samples"
set logscale x
set yrange [0:1.02]
set key bottom right
set grid
label(k) = k eq "exchange" ? "availability exchange" : \
           k eq "fg_fetch" ? "foreground fetch" : \
           k eq "prefetch" ? "prefetch" : \
           k eq "request_ready" ? "request to ready" : k
plot for [k in kinds] dir."/lat_".k.".dat" using ($1 > 0.001 ? $1 : 0.001):(1) smooth cnormal with linespoints lw 2 pt 7 ps 0.3 title label(k)
