/* run.c: every check in order, into ctx->report. */
#ifndef VMUX_DOCTOR_RUN_H
#define VMUX_DOCTOR_RUN_H

#include "doctor.h"

/* Runs every step for every endpoint of ctx->cfg, then the open step. */
void doc_run(doc_ctx *ctx);

#endif
