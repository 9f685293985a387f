/* The message queue's producer side, used by the pub/sub engine on the I/O thread. */
#ifndef VMUX_MSGQ_H
#define VMUX_MSGQ_H

#include "vmux/pubsub.h"

/* Copies msg into q, dropping per q's overflow policy when full. */
void vmux_msgq_push(vmux_msgq *q, const vmux_message *msg);

/* Marks q closed: pops return VMUX_ERR_CLOSED once it is empty. Wakes waiting readers. */
void vmux_msgq_close(vmux_msgq *q);

#endif
