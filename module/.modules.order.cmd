cmd_/work/main/module/modules.order := {   echo /work/main/module/kmbox.ko; :; } > /work/main/module/modules.order
