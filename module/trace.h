/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmbox tracepoints: the events perf, trace-cmd and bpftrace see as
 * kmbox:*.  Every event carries the mailbox's id (as in
 * /proc/kmbox/mailboxes); message events the payload length, priority
 * and sender (thread-group id in the initial pid namespace, 0 if it has
 * exited and been reaped).  common_pid is the task the event happened in.
 *
 *  kmbox_send      a message queued or handed over (slot: its zero-copy
 *                  slot or -1; token: a call's reply token, else 0)
 *  kmbox_handoff   a sender gave its message straight to a sleeping
 *                  receiver (receiver: its thread id)
 *  kmbox_recv      a receiver took a message; qtime_ns: time it spent
 *                  queued (0 for a hand-off)
 *  kmbox_requeue   a receive put its message back (its copy-out faulted)
 *  kmbox_drop      a queued message withdrawn before anybody received it
 *                  (a synchronous send or call that gave up)
 *  kmbox_zc_reserve, kmbox_zc_queue, kmbox_zc_release
 *                  a zero-copy slot reserved, queued in a send, released
 *  kmbox_zc_slot   every transition of region.c's slot state machine
 *                  (from, to: FREE RESERVED QUEUED TAKEN HELD), in the
 *                  task that made it: the whole life of each slot
 *  kmbox_call      a call returned: the request's length and priority,
 *                  ret the reply's length or a negative errno
 *  kmbox_reply     a reply to the call with @token (ret 0 or -errno)
 *
 * With tracing off each is one static branch not taken.  Included by
 * the module's .c files after kmbox.h; stats.c defines CREATE_TRACE_POINTS.
 */
#ifdef KMBOX_NO_TRACE
/*
 * Built with KMBOX_TRACE=0 (module/Kbuild): no events at all, every call
 * an empty inline.  Only for measuring what the tracepoints cost with
 * tracing off (make bench-ab, bench/README.md); the module's tests of the
 * events fail on such a build.
 */
#ifndef _KMBOX_TRACE_H
#define _KMBOX_TRACE_H

#include "kmbox.h"

#define KMBOX_NO_EVENT(name, ...)					\
	static inline void trace_##name(__VA_ARGS__) { }		\
	static inline bool trace_##name##_enabled(void) { return false; }

KMBOX_NO_EVENT(kmbox_requeue, const struct kmbox *mb, const struct kmbox_msg *msg)
KMBOX_NO_EVENT(kmbox_drop, const struct kmbox *mb, const struct kmbox_msg *msg)
KMBOX_NO_EVENT(kmbox_send, const struct kmbox *mb, const struct kmbox_msg *msg)
KMBOX_NO_EVENT(kmbox_handoff, const struct kmbox *mb, const struct kmbox_msg *msg,
	       const struct task_struct *receiver)
KMBOX_NO_EVENT(kmbox_recv, const struct kmbox *mb, const struct kmbox_msg *msg,
	       u64 qtime_ns)
KMBOX_NO_EVENT(kmbox_zc_reserve, const struct kmbox *mb, u32 slot)
KMBOX_NO_EVENT(kmbox_zc_queue, const struct kmbox *mb, u32 slot)
KMBOX_NO_EVENT(kmbox_zc_release, const struct kmbox *mb, u32 slot)
KMBOX_NO_EVENT(kmbox_zc_slot, const struct kmbox *mb, u32 slot, int from, int to)
KMBOX_NO_EVENT(kmbox_call, const struct kmbox *mb, u32 req_len, u32 prio, int ret)
KMBOX_NO_EVENT(kmbox_reply, const struct kmbox *mb, u64 token, u32 len, int ret)

#endif /* _KMBOX_TRACE_H */
#else /* !KMBOX_NO_TRACE */

#undef TRACE_SYSTEM
#define TRACE_SYSTEM kmbox

#if !defined(_KMBOX_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KMBOX_TRACE_H

#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/tracepoint.h>

#include "kmbox.h"

DECLARE_EVENT_CLASS(kmbox_msg_class,
		    TP_PROTO(const struct kmbox *mb,
			     const struct kmbox_msg *msg),
		    TP_ARGS(mb, msg),
		    TP_STRUCT__entry(__field(u64, id)
				     __field(u32, len)
				     __field(u32, prio)
				     __field(pid_t, sender)),
		    TP_fast_assign(__entry->id = mb->id;
				   __entry->len = msg->len;
				   __entry->prio = msg->prio;
				   __entry->sender = pid_nr(msg->pid);),
		    TP_printk("mbox=%llu len=%u prio=%u sender=%d",
			      __entry->id,
			      __entry->len,
			      __entry->prio,
			      __entry->sender)
);

DEFINE_EVENT(kmbox_msg_class, kmbox_requeue,
	     TP_PROTO(const struct kmbox *mb,
		      const struct kmbox_msg *msg),
	     TP_ARGS(mb, msg)
);

DEFINE_EVENT(kmbox_msg_class, kmbox_drop,
	     TP_PROTO(const struct kmbox *mb,
		      const struct kmbox_msg *msg),
	     TP_ARGS(mb, msg)
);

TRACE_EVENT(kmbox_send,
	    TP_PROTO(const struct kmbox *mb,
		     const struct kmbox_msg *msg),
	    TP_ARGS(mb, msg),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u64, token)
			     __field(u32, len)
			     __field(u32, prio)
			     __field(s32, slot)
			     __field(pid_t, sender)),
	    TP_fast_assign(__entry->id = mb->id;
			   __entry->token = msg->token;
			   __entry->len = msg->len;
			   __entry->prio = msg->prio;
			   __entry->slot = (msg->slot == KMBOX_NO_SLOT ? -1 : (s32)msg->slot);
			   __entry->sender = pid_nr(msg->pid);),
	    TP_printk("mbox=%llu len=%u prio=%u slot=%d token=%llu sender=%d",
		      __entry->id,
		      __entry->len,
		      __entry->prio,
		      __entry->slot,
		      __entry->token,
		      __entry->sender)
);

TRACE_EVENT(kmbox_handoff,
	    TP_PROTO(const struct kmbox *mb,
		     const struct kmbox_msg *msg,
		     const struct task_struct *receiver),
	    TP_ARGS(mb, msg, receiver),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u32, len)
			     __field(u32, prio)
			     __field(pid_t, sender)
			     __field(pid_t, receiver)),
	    TP_fast_assign(__entry->id = mb->id;
			   __entry->len = msg->len;
			   __entry->prio = msg->prio;
			   __entry->sender = pid_nr(msg->pid);
			   __entry->receiver = receiver->pid;),
	    TP_printk("mbox=%llu len=%u prio=%u sender=%d receiver=%d",
		      __entry->id,
		      __entry->len,
		      __entry->prio,
		      __entry->sender,
		      __entry->receiver)
);

TRACE_EVENT(kmbox_recv,
	    TP_PROTO(const struct kmbox *mb,
		     const struct kmbox_msg *msg,
		     u64 qtime_ns),
	    TP_ARGS(mb, msg, qtime_ns),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u64, qtime_ns)
			     __field(u64, token)
			     __field(u32, len)
			     __field(u32, prio)
			     __field(s32, slot)
			     __field(pid_t, sender)),
	    TP_fast_assign(__entry->id = mb->id;
			   __entry->qtime_ns = qtime_ns;
			   __entry->token = msg->token;
			   __entry->len = msg->len;
			   __entry->prio = msg->prio;
			   __entry->slot = (msg->slot == KMBOX_NO_SLOT ? -1 : (s32)msg->slot);
			   __entry->sender = pid_nr(msg->pid);),
	    TP_printk("mbox=%llu len=%u prio=%u slot=%d token=%llu sender=%d qtime_ns=%llu",
		      __entry->id,
		      __entry->len,
		      __entry->prio,
		      __entry->slot,
		      __entry->token,
		      __entry->sender,
		      __entry->qtime_ns)
);

DECLARE_EVENT_CLASS(kmbox_zc_class,
		    TP_PROTO(const struct kmbox *mb,
			     u32 slot),
		    TP_ARGS(mb, slot),
		    TP_STRUCT__entry(__field(u64, id)
				     __field(u32, slot)),
		    TP_fast_assign(__entry->id = mb->id;
				   __entry->slot = slot;),
		    TP_printk("mbox=%llu slot=%u",
			      __entry->id,
			      __entry->slot)
);

DEFINE_EVENT(kmbox_zc_class, kmbox_zc_reserve,
	     TP_PROTO(const struct kmbox *mb,
		      u32 slot),
	     TP_ARGS(mb, slot)
);

DEFINE_EVENT(kmbox_zc_class, kmbox_zc_queue,
	     TP_PROTO(const struct kmbox *mb,
		      u32 slot),
	     TP_ARGS(mb, slot)
);

DEFINE_EVENT(kmbox_zc_class, kmbox_zc_release,
	     TP_PROTO(const struct kmbox *mb,
		      u32 slot),
	     TP_ARGS(mb, slot)
);

TRACE_EVENT(kmbox_zc_slot,
	    TP_PROTO(const struct kmbox *mb,
		     u32 slot,
		     int from,
		     int to),
	    TP_ARGS(mb, slot, from, to),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u32, slot)
			     __field(u8, from)
			     __field(u8, to)),
	    TP_fast_assign(__entry->id = mb->id;
			   __entry->slot = slot;
			   __entry->from = from;
			   __entry->to = to;),
	    TP_printk("mbox=%llu slot=%u %s->%s",
		      __entry->id,
		      __entry->slot,
		      /* region.c's enum kmbox_slot_state (checked there) */
		      __print_symbolic(__entry->from, { 0, "FREE" }, { 1, "RESERVED" },
				       { 2, "QUEUED" }, { 3, "TAKEN" }, { 4, "HELD" }),
		      __print_symbolic(__entry->to, { 0, "FREE" }, { 1, "RESERVED" },
				       { 2, "QUEUED" }, { 3, "TAKEN" }, { 4, "HELD" }))
);

TRACE_EVENT(kmbox_call,
	    TP_PROTO(const struct kmbox *mb,
		     u32 req_len,
		     u32 prio,
		     int ret),
	    TP_ARGS(mb, req_len, prio, ret),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u32, len)
			     __field(u32, prio)
			     __field(int, ret)),
	    TP_fast_assign(__entry->id = mb->id;
			   __entry->len = req_len;
			   __entry->prio = prio;
			   __entry->ret = ret;),
	    TP_printk("mbox=%llu len=%u prio=%u ret=%d",
		      __entry->id,
		      __entry->len,
		      __entry->prio,
		      __entry->ret)
);

TRACE_EVENT(kmbox_reply,
	    TP_PROTO(const struct kmbox *mb,
		     u64 token,
		     u32 len,
		     int ret),
	    TP_ARGS(mb, token, len, ret),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u64, token)
			     __field(u32, len)
			     __field(int, ret)),
	    TP_fast_assign(__entry->id = mb->id;
			   __entry->token = token;
			   __entry->len = len;
			   __entry->ret = ret;),
	    TP_printk("mbox=%llu token=%llu len=%u ret=%d",
		      __entry->id,
		      __entry->token,
		      __entry->len,
		      __entry->ret)
);

#endif /* _KMBOX_TRACE_H */

/* This part must be outside the include guard. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>

#endif /* KMBOX_NO_TRACE */
