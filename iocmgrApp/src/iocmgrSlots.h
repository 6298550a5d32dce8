/* iocmgrSlots.h - the spare pool: instance records loaded at boot under slot
 * names of their own (SPARE_001, ...), bound at run time to instances that
 * appear after boot. EPICS side.
 *
 * A slot is a full copy of the instance template with I = NAME = SPARE_<n>
 * (not a Kubernetes name, so it meets no instance) and an empty ALIVE link.
 * Free, its records read Free with no alarm. Bound (iocmgrSlotBind, on the
 * network thread, the manager's decision) it takes the instance's name in the
 * table; once the deriver has stored its first view, iocmgrSlotPublish gives
 * every record the contract name $(P)<NAME>:<FIELD> as an alias and points
 * ALIVE at the instance's own <NAME>:UPTIME. A slot stays bound to its name
 * (aliases cannot be removed): a deleted instance shows Absent, the same name
 * coming back finds it by name. docs/ioc-layer.md "Spare slots".
 */
#ifndef IOCMGR_SLOTS_H
#define IOCMGR_SLOTS_H

#include "iocmgrTable.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Slots loaded when nothing sets the pool size. */
#define IOCMGR_SPARE_DEFAULT 16
/* Where the pool is sized, for messages. */
#define IOCMGR_SPARE_SETTING "IOCMGR_SPARE_SLOTS (st.cmd), SPARE (iocmgr.iocsh), iocmgrSpareSlots, " \
                             "Helm value spareSlots, ibek spare_slots"

/* Before iocmgrLoadInstances: the pool size (0: none). 0, or -1 when late or
 * negative. */
int iocmgrSetSpareSlots(int n);

/* Before iocInit, from iocmgrLoadInstances once the instances found at boot
 * are loaded: the slots, with the instance template and its extra macros.
 * Returns how many were loaded (the reason for fewer is logged). */
size_t iocmgrSlotsLoad(const char *templ, const char *extraMacros);

/* Network thread: bind name to the first free slot (domain: its domain label,
 * for nothing but the log). NULL when every slot is bound. */
iocmgrInst *iocmgrSlotBind(const char *name, const char *domain);

/* The deriver, after storing inst's view: a bound slot that has no aliases
 * yet gets them, and ALIVE its link. Nothing for any other entry. */
void iocmgrSlotPublish(iocmgrInst *inst);

/* Under iocmgrLock(): slots free and in all. */
void iocmgrSlotCounts(int *freeSlots, int *total);

#ifdef __cplusplus
}
#endif
#endif
