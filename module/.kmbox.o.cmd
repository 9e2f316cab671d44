cmd_/work/main/module/kmbox.o := ld -m elf_x86_64 -z noexecstack --no-warn-rwx-segments   -r -o /work/main/module/kmbox.o @/work/main/module/kmbox.mod 
