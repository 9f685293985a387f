/* The message queue's producer side, used by the pub/sub engine on the I/O thread. */
#ifndef VMUX_MSGQ_H
#define VMUX_MSGQ_H

#include "vmux/pubsub.h"

/*
 * Copies msg into q, dropping per q's overflow policy when full. A message that cannot be
 * copied, or that finds the ring full below the bound and cannot grow it for lack of memory, is
 * dropped and counted too (vmux_msgq_dropped()); the messages already queued stay, in order.
 * Any thread (the I/O threads feeding q); takes q's lock.
 */
void vmux__msgq_push(vmux_msgq *q, const vmux_message *msg);

/* The slots q's ring has now (what its memory follows; for tests). Any thread; takes q's lock. */
size_t vmux__msgq_slots(const vmux_msgq *q);

#endif
