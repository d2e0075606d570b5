/* The capabilities the agent needs, checked once at start-up so that a
 * hardened deployment that forgot one fails at once with its name, instead
 * of a bare EPERM from the kernel (or, worse, silently attributing less). */
#ifndef JM_CAPS_H
#define JM_CAPS_H

/* 0 when every needed capability is effective; otherwise logs one line per
 * missing capability ("missing capability CAP_BPF: ...") and returns -1. */
int jm_caps_check(void) __attribute__((warn_unused_result));
#endif
