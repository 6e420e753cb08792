#!/bin/sh
# PLACEHOLDER stand-in agent: the VM backend's real agent (the guest half of its job
# protocol) replaces this file. Until then it only prints what the guest sees and exits.
. /lib/standin/functions.sh
echo "placeholder agent: kernel $(uname -r)"
echo "placeholder agent: disks: $(standin_disks | tr '\n' ' ')"
for vol in $(standin_volumes); do
    echo "placeholder agent: volume $vol type=$(standin_fstype "$vol")"
done
exit 0
