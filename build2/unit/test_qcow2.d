build2/unit/test_qcow2: tests/unit/test_qcow2.c tests/unit/unit.h \
 include/block.h include/qcow2.h include/block.h include/util.h
tests/unit/unit.h:
include/block.h:
include/qcow2.h:
include/block.h:
include/util.h:
