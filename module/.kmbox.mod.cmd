cmd_/work/main/module/kmbox.mod := printf '%s\n'   main.o mbox.o names.o region.o ioctl.o user.o | awk '!x[$$0]++ { print("/work/main/module/"$$0) }' > /work/main/module/kmbox.mod
