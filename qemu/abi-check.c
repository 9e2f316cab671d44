// SPDX-License-Identifier: GPL-2.0
/*
 * The kmbox ABI, pinned: every uapi struct's size and every field's
 * offset, and every ioctl number (which encodes the size).  make lint
 * compiles this with clang for x86_64 and for i386: a field that moves,
 * a hole that appears, or a struct that differs between 32- and 64-bit
 * user space fails to compile.  Nothing here runs.
 *
 * When the ABI changes on purpose, the numbers here change in the same
 * commit as uapi/linux/kmbox.h.
 */
#include <stddef.h>
#include <linux/kmbox.h>

#define SIZE(s, n)	_Static_assert(sizeof(struct s) == (n), \
				       "sizeof(struct " #s ") != " #n)
#define OFF(s, f, n)	_Static_assert(offsetof(struct s, f) == (n), \
				       "offsetof(struct " #s ", " #f ") != " #n)
#define IOC(c, n)	_Static_assert((c) == (n), #c " != " #n)

SIZE(kmbox_info, 64);
OFF(kmbox_info, api_version, 0);
OFF(kmbox_info, prio_max, 4);
OFF(kmbox_info, features, 8);
OFF(kmbox_info, max_msgs_cap, 16);
OFF(kmbox_info, max_msgsize_cap, 20);
OFF(kmbox_info, default_max_msgs, 24);
OFF(kmbox_info, default_max_msgsize, 28);
OFF(kmbox_info, user_quota, 32);
OFF(kmbox_info, region_cap, 40);
OFF(kmbox_info, __reserved, 48);

SIZE(kmbox_attr, 64);
OFF(kmbox_attr, max_msgs, 0);
OFF(kmbox_attr, max_msgsize, 4);
OFF(kmbox_attr, cur_msgs, 8);
OFF(kmbox_attr, flags, 12);
OFF(kmbox_attr, cur_bytes, 16);
OFF(kmbox_attr, zc_slots, 24);
OFF(kmbox_attr, zc_slot_size, 28);
OFF(kmbox_attr, zc_free, 32);
OFF(kmbox_attr, zc_held, 36);
OFF(kmbox_attr, zc_completed, 40);
OFF(kmbox_attr, rd_waiters, 48);
OFF(kmbox_attr, wr_waiters, 52);
OFF(kmbox_attr, __reserved, 56);

SIZE(kmbox_open, 48);
OFF(kmbox_open, name, 0);
OFF(kmbox_open, attr, 8);
OFF(kmbox_open, flags, 16);
OFF(kmbox_open, mode, 20);
OFF(kmbox_open, qos, 24);
OFF(kmbox_open, __reserved, 24);

SIZE(kmbox_unlink, 32);
OFF(kmbox_unlink, name, 0);
OFF(kmbox_unlink, __reserved, 8);

SIZE(kmbox_send, 48);
OFF(kmbox_send, buf, 0);
OFF(kmbox_send, len, 8);
OFF(kmbox_send, prio, 12);
OFF(kmbox_send, flags, 16);
OFF(kmbox_send, slot, 20);
OFF(kmbox_send, deadline_ns, 24);
OFF(kmbox_send, tag, 32);
OFF(kmbox_send, expire_ns, 40);
OFF(kmbox_send, __reserved, 32);

SIZE(kmbox_recv, 72);
OFF(kmbox_recv, buf, 0);
OFF(kmbox_recv, len, 8);
OFF(kmbox_recv, flags, 12);
OFF(kmbox_recv, deadline_ns, 16);
OFF(kmbox_recv, prio, 24);
OFF(kmbox_recv, slot, 28);
OFF(kmbox_recv, pid, 32);
OFF(kmbox_recv, uid, 36);
OFF(kmbox_recv, gid, 40);
OFF(kmbox_recv, msg_flags, 44);
OFF(kmbox_recv, send_ns, 48);
OFF(kmbox_recv, reply_token, 56);
OFF(kmbox_recv, match_mask, 56);
OFF(kmbox_recv, tag, 64);
OFF(kmbox_recv, __reserved, 64);

SIZE(kmbox_mmsg, 24);
OFF(kmbox_mmsg, buf, 0);
OFF(kmbox_mmsg, len, 8);
OFF(kmbox_mmsg, prio, 12);
OFF(kmbox_mmsg, slot, 16);
OFF(kmbox_mmsg, flags, 20);

SIZE(kmbox_batch, 40);
OFF(kmbox_batch, msgs, 0);
OFF(kmbox_batch, count, 8);
OFF(kmbox_batch, flags, 12);
OFF(kmbox_batch, deadline_ns, 16);
OFF(kmbox_batch, tokens, 24);
OFF(kmbox_batch, tags, 32);
OFF(kmbox_batch, __reserved, 32);

SIZE(kmbox_call, 80);
OFF(kmbox_call, req, 0);
OFF(kmbox_call, req_len, 8);
OFF(kmbox_call, prio, 12);
OFF(kmbox_call, reply, 16);
OFF(kmbox_call, reply_len, 24);
OFF(kmbox_call, flags, 28);
OFF(kmbox_call, deadline_ns, 32);
OFF(kmbox_call, pid, 40);
OFF(kmbox_call, uid, 44);
OFF(kmbox_call, gid, 48);
OFF(kmbox_call, __pad, 52);
OFF(kmbox_call, send_ns, 56);
OFF(kmbox_call, tag, 64);
OFF(kmbox_call, __reserved, 64);

SIZE(kmbox_reply, 40);
OFF(kmbox_reply, token, 0);
OFF(kmbox_reply, buf, 8);
OFF(kmbox_reply, len, 16);
OFF(kmbox_reply, flags, 20);
OFF(kmbox_reply, __reserved, 24);

SIZE(kmbox_slots, 40);
OFF(kmbox_slots, slots, 0);
OFF(kmbox_slots, count, 8);
OFF(kmbox_slots, flags, 12);
OFF(kmbox_slots, deadline_ns, 16);
OFF(kmbox_slots, __reserved, 24);

SIZE(kmbox_reopen, 16);
OFF(kmbox_reopen, flags, 0);
OFF(kmbox_reopen, __reserved, 4);

SIZE(kmbox_stats, 432);
OFF(kmbox_stats, flags, 0);
OFF(kmbox_stats, nbuckets, 4);
OFF(kmbox_stats, since_ns, 8);
OFF(kmbox_stats, msgs_in, 16);
OFF(kmbox_stats, msgs_out, 24);
OFF(kmbox_stats, bytes_in, 32);
OFF(kmbox_stats, bytes_out, 40);
OFF(kmbox_stats, handoffs, 48);
OFF(kmbox_stats, full_waits, 56);
OFF(kmbox_stats, empty_waits, 64);
OFF(kmbox_stats, max_depth, 72);
OFF(kmbox_stats, __pad, 76);
OFF(kmbox_stats, __reserved, 80);
OFF(kmbox_stats, qtime_hist, 112);

SIZE(kmbox_filter, 32);
OFF(kmbox_filter, tag, 0);
OFF(kmbox_filter, mask, 8);
OFF(kmbox_filter, flags, 16);
OFF(kmbox_filter, __reserved, 20);

SIZE(kmbox_loss, 32);
OFF(kmbox_loss, dropped, 0);
OFF(kmbox_loss, rejected, 8);
OFF(kmbox_loss, replaced, 16);
OFF(kmbox_loss, expired, 24);

SIZE(kmbox_qos, 88);
OFF(kmbox_qos, policy, 0);
OFF(kmbox_qos, urgent_prio, 4);
OFF(kmbox_qos, urgent_room, 8);
OFF(kmbox_qos, __pad, 12);
OFF(kmbox_qos, ttl_ns, 16);
OFF(kmbox_qos, lost, 24);
OFF(kmbox_qos, __reserved, 56);

SIZE(kmbox_recvx, 120);
OFF(kmbox_recvx, r, 0);
OFF(kmbox_recvx, lost, 72);
OFF(kmbox_recvx, __reserved, 104);

/* io_uring commands: the argument fills at most a 128-byte SQE's 80 bytes */
SIZE(kmbox_uring_recv, 80);
OFF(kmbox_uring_recv, recv, 0);
OFF(kmbox_uring_recv, result, 72);
SIZE(kmbox_uring_recv_batch, 64);
OFF(kmbox_uring_recv_batch, b, 0);
OFF(kmbox_uring_recv_batch, lost, 40);
OFF(kmbox_uring_recv_batch, __reserved, 48);
SIZE(kmbox_uring_send_batch, 64);
OFF(kmbox_uring_send_batch, b, 0);
OFF(kmbox_uring_send_batch, __reserved, 40);
IOC(KMBOX_URING_SEND, 0x10);
IOC(KMBOX_URING_RECV, 0x11);
IOC(KMBOX_URING_RECV_BATCH, 0x12);
IOC(KMBOX_URING_SEND_BATCH, 0x13);
IOC(KMBOX_FEAT_URING, 0x200);

IOC(KMBOX_IOC_INFO, 0x8040d400);
IOC(KMBOX_IOC_OPEN, 0x4030d401);
IOC(KMBOX_IOC_UNLINK, 0x4020d402);
IOC(KMBOX_IOC_GETATTR, 0x8040d403);
IOC(KMBOX_IOC_SEND, 0x4030d404);
IOC(KMBOX_IOC_RECV, 0xc048d405);
IOC(KMBOX_IOC_SEND_BATCH, 0x4028d406);
IOC(KMBOX_IOC_RECV_BATCH, 0x4028d407);
IOC(KMBOX_IOC_ZC_RESERVE, 0x4028d408);
IOC(KMBOX_IOC_ZC_RELEASE, 0x4028d409);
IOC(KMBOX_IOC_REOPEN, 0x4010d40a);
IOC(KMBOX_IOC_CALL, 0xc050d40b);
IOC(KMBOX_IOC_REPLY, 0x4028d40c);
IOC(KMBOX_IOC_STATS, 0xc1b0d40d);
IOC(KMBOX_IOC_FILTER, 0xc020d40e);
IOC(KMBOX_IOC_QOS, 0x8058d40f);
IOC(KMBOX_IOC_RECVX, 0xc078d410);
