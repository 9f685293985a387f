/* The message queue's producer side, used by the pub/sub engine on the I/O thread. */
#ifndef VMUX_MSGQ_H
#define VMUX_MSGQ_H

#include "vmux/pubsub.h"

/* Copies msg into q, dropping per q's overflow policy when full. */
void vmux__msgq_push(vmux_msgq *q, const vmux_message *msg);

#endif
