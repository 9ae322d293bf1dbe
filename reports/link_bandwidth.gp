# link_bandwidth.gp - utilisation over time of the busiest links (at
# most 8), one panel each so that no line hides another, from
# link_util.csv (t_s, then a share of capacity per link; -1: capacity
# unknown). Timeline events are vertical marks (marks.gp, written by
# make_report.sh from marks.csv). The x range is the active period.
#   out   output file   term  png|svg   dir  the run's folder
#   ncols columns       xmin, xmax  the range shown (s)
#   marks  .gp file of the marks (arrows)   labels  .gp file of their labels
n = ncols - 1
h = 160 * n + 100
if (term eq "svg") { set terminal svg size 1000,h dynamic font "sans,11" } else { set terminal pngcairo size 1000,h font "sans,10" }
set output out
set datafile separator ","
set datafile missing "-1"
set multiplot layout n,1 title "Link utilisation over time (share of each link's capacity; marks: timeline events)" noenhanced
set lmargin 10
set rmargin 3
set tmargin 1.6
set bmargin 1.2
set xrange [xmin:xmax]
set yrange [0:105]
set ytics 0,50,100 format "%g%%"
set grid xtics ytics
# the link's name above its panel, clear of the marks' labels
set key at graph 0, graph 1 left bottom noenhanced samplen 1 nobox
set style fill solid 0.35 border
load marks
do for [i=2:ncols] {
  if (i == 2) { load labels } else { unset label }
  if (i == ncols) { set xlabel "simulated time (s)"; set bmargin 3.5 } else { set xlabel ""; set format x "" }
  plot dir."/link_util.csv" using 1:(column(i) * 100) with filledcurves y1=0 lc rgb "#1f77b4" title columnhead(i)
  set format x "%g"
}
unset multiplot
