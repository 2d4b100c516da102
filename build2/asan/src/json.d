build2/asan/src/json.o: src/json.c include/json.h include/util.h
include/json.h:
include/util.h:
