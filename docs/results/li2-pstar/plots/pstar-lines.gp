# final validation accuracy (mean over seeds); dashed: p*(M)
# Written by grokjit (runtime/plot.cpp); data in pstar-lines.dat.
# Re-draw after editing: cd to this folder, then: gnuplot pstar-lines.gp
set encoding utf8
set datafile missing '?'
set title 'final validation accuracy (mean over seeds); dashed: p*(M)' noenhanced
set xlabel 'train fraction' noenhanced
set ylabel 'val acc' noenhanced
set grid ytics lc rgb '#dddddd'
set key bottom right
set yrange [0:1.05]

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'pstar-lines.svg'
plot 'pstar-lines.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#1f77b4' title 'M = 23', \
     'pstar-lines.dat' index 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' dt 2 title 'p*(23) = 0.375', \
     'pstar-lines.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#d62728' title 'M = 31', \
     'pstar-lines.dat' index 3 using 1:2 with lines lw 2 lc rgb '#d62728' dt 2 title 'p*(31) = 0.304', \
     'pstar-lines.dat' index 4 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#2ca02c' title 'M = 41', \
     'pstar-lines.dat' index 5 using 1:2 with lines lw 2 lc rgb '#2ca02c' dt 2 title 'p*(41) = 0.249', \
     'pstar-lines.dat' index 6 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#ff7f0e' title 'M = 47', \
     'pstar-lines.dat' index 7 using 1:2 with lines lw 2 lc rgb '#ff7f0e' dt 2 title 'p*(47) = 0.225'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'pstar-lines.png'
plot 'pstar-lines.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#1f77b4' title 'M = 23', \
     'pstar-lines.dat' index 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' dt 2 title 'p*(23) = 0.375', \
     'pstar-lines.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#d62728' title 'M = 31', \
     'pstar-lines.dat' index 3 using 1:2 with lines lw 2 lc rgb '#d62728' dt 2 title 'p*(31) = 0.304', \
     'pstar-lines.dat' index 4 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#2ca02c' title 'M = 41', \
     'pstar-lines.dat' index 5 using 1:2 with lines lw 2 lc rgb '#2ca02c' dt 2 title 'p*(41) = 0.249', \
     'pstar-lines.dat' index 6 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#ff7f0e' title 'M = 47', \
     'pstar-lines.dat' index 7 using 1:2 with lines lw 2 lc rgb '#ff7f0e' dt 2 title 'p*(47) = 0.225'
set output
