# Grokking epoch per task.kind and optimizer.kind (sparsemax)
# Written by grokjit (runtime/plot.cpp); data in box-sparsemax.dat.
# Re-draw after editing: cd to this folder, then: gnuplot box-sparsemax.gp
set encoding utf8
set datafile missing '?'
set title 'Grokking epoch per task.kind and optimizer.kind (sparsemax)' noenhanced
set xlabel 'task.kind / optimizer.kind' noenhanced
set ylabel 'grokking epoch' noenhanced
set grid ytics lc rgb '#dddddd'
set boxwidth 0.5 absolute
set xrange [0.4:14.6]
set xtics ('add/adamw' 1, 'add/muon' 2, 'div/adamw' 3, 'div/muon' 4, 'exp/adamw' 5, 'exp/muon' 6, 'gcd/adamw' 7, 'gcd/muon' 8, 'mul/adamw' 9, 'mul/muon' 10, 'parity/adamw' 11, 'parity/muon' 12, 'sub/adamw' 13, 'sub/muon' 14) rotate by -35
set key outside top center horizontal
set offsets 0, 0, graph 0.06, graph 0.06  # keep points at the cap off the frame

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'box-sparsemax.svg'
plot 'box-sparsemax.dat' index 0 using 1:3:2:6:5:7 with candlesticks whiskerbars 0.5 lc rgb variable lw 1.5 fs solid 0.25 notitle, \
     'box-sparsemax.dat' index 0 using 1:4:4:4:4:7 with candlesticks lc rgb variable lw 2.5 notitle, \
     'box-sparsemax.dat' index 1 using 1:2 with points pt 7 ps 0.6 lc rgb '#333333' title 'grokked', \
     'box-sparsemax.dat' index 2 using 1:2 with points pt 9 ps 1.1 lc rgb '#d62728' title 'censored (at the epoch it stopped)'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'box-sparsemax.png'
plot 'box-sparsemax.dat' index 0 using 1:3:2:6:5:7 with candlesticks whiskerbars 0.5 lc rgb variable lw 1.5 fs solid 0.25 notitle, \
     'box-sparsemax.dat' index 0 using 1:4:4:4:4:7 with candlesticks lc rgb variable lw 2.5 notitle, \
     'box-sparsemax.dat' index 1 using 1:2 with points pt 7 ps 0.6 lc rgb '#333333' title 'grokked', \
     'box-sparsemax.dat' index 2 using 1:2 with points pt 9 ps 1.1 lc rgb '#d62728' title 'censored (at the epoch it stopped)'
set output
