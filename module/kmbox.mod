/work/main/module/main.o
/work/main/module/mbox.o
/work/main/module/names.o
/work/main/module/region.o
/work/main/module/ioctl.o
/work/main/module/user.o
