# Grokking epoch per task.kind and optimizer.kind (aux-matched)
# Written by grokjit (runtime/plot.cpp); data in box-aux-matched.dat.
# Re-draw after editing: cd to this folder, then: gnuplot box-aux-matched.gp
set encoding utf8
set datafile missing '?'
set title 'Grokking epoch per task.kind and optimizer.kind (aux-matched)' noenhanced
set xlabel 'task.kind / optimizer.kind' noenhanced
set ylabel 'grokking epoch' noenhanced
set grid ytics lc rgb '#dddddd'
set boxwidth 0.5 absolute
set xrange [0.4:3.6]
set xtics ('div/muon' 1, 'exp/muon' 2, 'gcd/muon' 3)
set key outside top center horizontal
set offsets 0, 0, graph 0.06, graph 0.06  # keep points at the cap off the frame

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'box-aux-matched.svg'
plot 'box-aux-matched.dat' index 0 using 1:3:2:6:5:7 with candlesticks whiskerbars 0.5 lc rgb variable lw 1.5 fs solid 0.25 notitle, \
     'box-aux-matched.dat' index 0 using 1:4:4:4:4:7 with candlesticks lc rgb variable lw 2.5 notitle, \
     'box-aux-matched.dat' index 1 using 1:2 with points pt 7 ps 0.6 lc rgb '#333333' title 'grokked', \
     'box-aux-matched.dat' index 2 using 1:2 with points pt 9 ps 1.1 lc rgb '#d62728' title 'censored (at the epoch it stopped)'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'box-aux-matched.png'
plot 'box-aux-matched.dat' index 0 using 1:3:2:6:5:7 with candlesticks whiskerbars 0.5 lc rgb variable lw 1.5 fs solid 0.25 notitle, \
     'box-aux-matched.dat' index 0 using 1:4:4:4:4:7 with candlesticks lc rgb variable lw 2.5 notitle, \
     'box-aux-matched.dat' index 1 using 1:2 with points pt 7 ps 0.6 lc rgb '#333333' title 'grokked', \
     'box-aux-matched.dat' index 2 using 1:2 with points pt 9 ps 1.1 lc rgb '#d62728' title 'censored (at the epoch it stopped)'
set output
