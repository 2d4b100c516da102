build2/tools/romsign: tools/romsign.c
