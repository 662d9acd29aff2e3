# bench/peers/plot.gp: the fan-out latency of Parley and its peers against the
# delivered rate, as bench/compare draws it (compare-latest.png).
#
#   gnuplot -e "datadir='DIR'; outfile='OUT.png'; systems='parley ws socketio nats redis'; \
#               subtitle='...'; limit_ms=50" bench/peers/plot.gp
#
# DIR/<system>.dat holds one line per fan-out step, sorted by the first column:
#   deliveries_per_s  p50_ms  p99_ms  rate_msgs_per_s
# x = delivered messages per second (log), y = end-to-end latency in ms (log);
# one colour per system, p99 solid, p50 dashed, a dotted line at limit_ms
# (the knee's p99 criterion).

if (!exists("datadir")) datadir = "."
if (!exists("outfile")) outfile = "compare-latest.png"
if (!exists("systems")) systems = "parley ws socketio nats redis"
if (!exists("subtitle")) subtitle = ""
if (!exists("limit_ms")) limit_ms = 50

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 1100,700 noenhanced font "DejaVu Sans,11"
} else {
  set terminal png size 1100,700 noenhanced
}
set output outfile

set title "Fan-out: end-to-end latency against delivered rate\n" . subtitle
set logscale xy
set xlabel "delivered messages per second (all receivers; log scale)"
set ylabel "latency from scheduled send to delivery (ms; log scale)"
set format x "%.0s%c"
set format y "%g"
set grid xtics ytics mxtics mytics lc rgb "#e0e0e0"
set key outside right top box opaque
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05

color(s) = s eq "parley" ? "#1f77b4" : s eq "ws" ? "#d62728" : s eq "socketio" ? "#2ca02c" : \
           s eq "nats" ? "#ff7f0e" : s eq "redis" ? "#9467bd" : "#555555"
file(s) = datadir . "/" . s . ".dat"

# The limit as an arrow, so it spans the whole width (a function would only
# span the data's x range); NaN below gives it its key entry.
set arrow 1 from graph 0, first limit_ms to graph 1, first limit_ms nohead dt 3 lw 1.5 lc rgb "black" back

plot for [i=1:words(systems)] file(word(systems, i)) using 1:3 with linespoints \
       lw 2 pt 7 ps 1 lc rgb color(word(systems, i)) title word(systems, i) . " p99", \
     for [i=1:words(systems)] file(word(systems, i)) using 1:2 with linespoints \
       dt 2 lw 1.5 pt 6 ps 1 lc rgb color(word(systems, i)) title word(systems, i) . " p50", \
     NaN with lines dt 3 lw 1.5 lc rgb "black" title sprintf("%g ms", limit_ms)
