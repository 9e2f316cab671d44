#include <linux/module.h>
#define INCLUDE_VERMAGIC
#include <linux/build-salt.h>
#include <linux/elfnote-lto.h>
#include <linux/export-internal.h>
#include <linux/vermagic.h>
#include <linux/compiler.h>

BUILD_SALT;
BUILD_LTO_INFO;

MODULE_INFO(vermagic, VERMAGIC_STRING);
MODULE_INFO(name, KBUILD_MODNAME);

__visible struct module __this_module
__section(".gnu.linkonce.this_module") = {
	.name = KBUILD_MODNAME,
	.init = init_module,
#ifdef CONFIG_MODULE_UNLOAD
	.exit = cleanup_module,
#endif
	.arch = MODULE_ARCH_INIT,
};

#ifdef CONFIG_RETPOLINE
MODULE_INFO(retpoline, "Y");
#endif


static const struct modversion_info ____versions[]
__used __section("__versions") = {
	{ 0x88db9f48, "__check_object_size" },
	{ 0x583ead41, "misc_deregister" },
	{ 0xe5f5c05d, "param_ops_uint" },
	{ 0x228600bd, "param_ops_ulong" },
	{ 0x13c49cc2, "_copy_from_user" },
	{ 0x9291cd3b, "memdup_user" },
	{ 0xca9360b5, "rb_next" },
	{ 0x92540fbf, "finish_wait" },
	{ 0x55923f44, "kill_fasync" },
	{ 0x99f7371c, "refcount_dec_and_mutex_lock" },
	{ 0x37a0cba, "kfree" },
	{ 0xd03eaf4c, "schedule_hrtimeout_range" },
	{ 0xe2964344, "__wake_up" },
	{ 0x7663e6cd, "file_ns_capable" },
	{ 0xa5526619, "rb_insert_color" },
	{ 0xba8fbd64, "_raw_spin_lock" },
	{ 0xd6eaaea1, "full_name_hash" },
	{ 0xbdfb6dbb, "__fentry__" },
	{ 0x65487097, "__x86_indirect_thunk_rax" },
	{ 0x5e95b1cd, "current_umask" },
	{ 0x8b8059bd, "in_group_p" },
	{ 0x1000e51, "schedule" },
	{ 0xa19b956, "__stack_chk_fail" },
	{ 0x5635a60a, "vmalloc_user" },
	{ 0x296695f, "refcount_warn_saturate" },
	{ 0xb2fd5ceb, "__put_user_4" },
	{ 0xba220db7, "__wake_up_sync_key" },
	{ 0x599fb41c, "kvmalloc_node" },
	{ 0xd6893485, "compat_ptr_ioctl" },
	{ 0x1c00d17f, "seq_escape_mem" },
	{ 0x68f31cbd, "__list_add_valid" },
	{ 0x8df92f66, "memchr_inv" },
	{ 0x4dfa8d4b, "mutex_lock" },
	{ 0x9ade2c58, "seq_putc" },
	{ 0x4c1e5a18, "fasync_helper" },
	{ 0x4d9b652b, "rb_erase" },
	{ 0x1a79c8e9, "__x86_indirect_thunk_r13" },
	{ 0xd5fb05af, "ns_capable" },
	{ 0xe1537255, "__list_del_entry_valid" },
	{ 0x57ae9fd5, "current_task" },
	{ 0xa407799, "proc_mkdir" },
	{ 0x38fa8736, "misc_register" },
	{ 0x5b8239ca, "__x86_return_thunk" },
	{ 0x6b10bee1, "_copy_to_user" },
	{ 0xd9a5ea54, "__init_waitqueue_head" },
	{ 0x756ffafa, "from_kgid_munged" },
	{ 0x329ef5db, "proc_remove" },
	{ 0xe2d5255a, "strcmp" },
	{ 0x8522d6bc, "strncpy_from_user" },
	{ 0x999e8297, "vfree" },
	{ 0x3213f038, "mutex_unlock" },
	{ 0xc622556f, "prepare_to_wait_exclusive" },
	{ 0x47c20f8a, "refcount_dec_not_one" },
	{ 0xa6d27ab3, "init_user_ns" },
	{ 0xb43f9365, "ktime_get" },
	{ 0x91f31b42, "seq_printf" },
	{ 0x8ef22deb, "seq_puts" },
	{ 0xe6dde83d, "stream_open" },
	{ 0xf19717c7, "pid_vnr" },
	{ 0xad73041f, "autoremove_wake_function" },
	{ 0x659b4f30, "from_kuid_munged" },
	{ 0xc25843fd, "proc_create_single_data" },
	{ 0x9f76e404, "kmalloc_trace" },
	{ 0xf3ae9ca9, "remap_vmalloc_range" },
	{ 0x754d539c, "strlen" },
	{ 0x7aa1756e, "kvfree" },
	{ 0x349cba85, "strchr" },
	{ 0xb5b54b34, "_raw_spin_unlock" },
	{ 0xc85e36fd, "put_pid" },
	{ 0xeb233a45, "__kmalloc" },
	{ 0xec4361b0, "kmalloc_caches" },
	{ 0xa351f379, "module_layout" },
};

MODULE_INFO(depends, "");

