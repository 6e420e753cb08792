#!/bin/sh
# The agent of tests/vm/test_standin_boot.py: find the job and target volumes by their
# marker files, read the job, change the target (a file, a registry value, a new key) and
# write a result on the job volume. It leaves the job volume mounted on purpose: /init must
# unmount it before powering off, and the test checks that the result still arrived.
. /lib/standin/functions.sh
fail() { echo "smoke agent: FAILED: $*"; exit 1; }

job=$(standin_find_volume wimcore-standin-job.txt) || fail "no job volume"
target=$(standin_find_volume wimcore-standin-target.txt) || fail "no target volume"
echo "smoke agent: job on $job, target on $target"
standin_mount "$job" /mnt/job rw || fail "cannot mount $job"
standin_mount "$target" /mnt/target rw || fail "cannot mount $target"

ubr=$(sed -n 's/^ubr=//p' /mnt/job/wimcore-standin-job.txt)
note=$(sed -n 's/^note=//p' /mnt/job/wimcore-standin-job.txt)
package=$(sed -n 's/^package=//p' /mnt/job/wimcore-standin-job.txt)
[ -n "$ubr" ] && [ -n "$note" ] && [ -n "$package" ] || fail "incomplete job file"

echo "$note" > /mnt/target/Windows/standin-note.txt || fail "cannot write the note"
hive=/mnt/target/Windows/System32/config/SOFTWARE
standin_hive_setval "$hive" 'Microsoft\Windows NT\CurrentVersion' UBR "dword:$ubr" \
    || fail "cannot set UBR"
cbs="Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages\\$package"
standin_hive_mkkey "$hive" "$cbs" || fail "cannot create $cbs"
standin_hive_setval "$hive" "$cbs" CurrentState dword:0x70 || fail "cannot set CurrentState"
umount /mnt/target || fail "cannot unmount the target"

{
    echo "status=0"
    echo "job=$job"
    echo "target=$target"
    echo "kernel=$(uname -r)"
} > /mnt/job/result.txt || fail "cannot write the result"
echo "smoke agent: done"
