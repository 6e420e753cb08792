#!/bin/sh
# wimcore's stand-in agent: the guest half of the vm backend's job protocol, for the tests.
# A TEST FIXTURE, NEVER SERVICING: where the Windows guest runs DISM, this records on the
# NTFS volume what an install records (the package's .mum/.cat under
# Windows/servicing/Packages, the CBS Packages\<identity> key with CurrentState 0x70 in
# SOFTWARE, the UBR of a cumulative update, a session in Sessions.xml), so that wimcore's
# orchestration and post-check can be tested for real. It reads the same job file the
# Windows batch is generated from and writes the same results file.
#
# The test picks a behaviour on the kernel command line, per target:
#   wimcore.standin=T:MODE[,T:MODE...]  (targets not named: ok)
#   ok          record the install, exit code 0
#   fail@S@CODE step S fails with exit code CODE (nothing recorded for it; the target stops)
#   noop        exit code 0 for every step, nothing recorded (DISM's silent no-op)
# and for the whole job:
#   wimcore.standin=hang        never finish (the host's timeout must kill the VM)
#   wimcore.standin=noresults   power off without writing a results file
#   wimcore.standin=huge        a results file far over the host's size limit
#   wimcore.standin=lie         a results file recording a step the job does not have
. /lib/standin/functions.sh
# Every variable here is a_*: the helpers' variables (mode, key, rc, ...) are global in sh.

progress() { echo "wimcore-progress $*"; }
now() { echo "$(date +%H:%M:%S).00"; }

a_modes=""
for a_arg in $(cat /proc/cmdline); do
    case $a_arg in
        wimcore.standin=*) a_modes=${a_arg#*=} ;;
    esac
done
progress boot
case $a_modes in
    hang) progress note hanging on purpose; while :; do sleep 60; done ;;
esac

target_mode() {  # target_mode N -> ok | noop | fail@S@CODE
    for a_m in $(echo "$a_modes" | tr ',' ' '); do
        case $a_m in
            "$1":*) echo "${a_m#*:}"; return ;;
        esac
    done
    echo ok
}

a_jobdev=$(standin_find_volume wimcore-job.txt) || { progress error no-job-disk; exit 1; }
a_J=/mnt/job
standin_mount "$a_jobdev" "$a_J" rw || { progress error job-disk-mount; exit 1; }
tr -d '\r' < "$a_J/wimcore-job.txt" > /run/job.txt
[ "$(head -n 1 /run/job.txt)" = "wimcore-job 1" ] || { progress error bad-job; exit 1; }
a_jobid=$(sed -n 's/^job \([0-9a-f]*\)$/\1/p' /run/job.txt)
a_R=$a_J/results
mkdir -p "$a_R"

case $a_modes in
    noresults) progress note no results on purpose; exit 0 ;;
    huge) { echo "wimcore-results 1"; echo "job $a_jobid";
            dd if=/dev/zero bs=1024 count=2048 2>/dev/null | tr '\0' 'x'; } > "$a_R/results.txt"
          exit 0 ;;
    lie) { echo "wimcore-results 1"; echo "job $a_jobid"; echo "step 99 exit 0 start 01:00:00.00 end 01:00:01.00"
           echo end; } > "$a_R/results.txt"
         exit 0 ;;
esac

printf 'wimcore-results 1\r\njob %s\r\n' "$a_jobid" > "$a_R/results.txt"
progress job "$a_jobid" start
a_CBS='Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages'
a_CV='Microsoft\Windows NT\CurrentVersion'

record_package() {  # record_package VOLUME META KEY UBR
    a_vol=$1 a_meta=$2 a_key=$3 a_ubr=$4
    a_pkgs=$a_vol/Windows/servicing/Packages
    mkdir -p "$a_pkgs" || return 1
    cp "$a_meta/update.mum" "$a_pkgs/$a_key.mum" || return 1
    for a_cat in "$a_meta"/*.cat; do
        [ -e "$a_cat" ] && { cp "$a_cat" "$a_pkgs/$a_key.cat" || return 1; break; }
    done
    a_hive=$a_vol/Windows/System32/config/SOFTWARE
    standin_hive_mkkey "$a_hive" "$a_CBS\\$a_key" || return 1
    standin_hive_setval "$a_hive" "$a_CBS\\$a_key" CurrentState dword:0x70 || return 1
    if [ "$a_ubr" != "-" ]; then
        standin_hive_setval "$a_hive" "$a_CV" UBR "dword:$a_ubr" || return 1
    fi
    a_sessions=$a_vol/Windows/servicing/Sessions/Sessions.xml
    if [ -f "$a_sessions" ]; then
        a_entry="<Session version=\"15\" id=\"wimcore-standin-$a_jobid-$a_step\" client=\"wimcore stand-in (test)\" status=\"0x0\" lastSuccessfulState=\"Complete\"><Tasks><Phase seq=\"1\"><package id=\"$a_key\" targetState=\"Installed\"/></Phase></Tasks></Session>"
        sed -i "s|</Sessions>|$a_entry</Sessions>|" "$a_sessions" || return 1
    fi
}

while read -r a_word a_n a_ttype <&3; do
    [ "$a_word" = target ] || continue
    a_mode=$(target_mode "$a_n")
    a_tdev=$(standin_find_volume "\$wimcore/$a_jobid-target-$a_n.txt") || {
        printf 'missing %s\r\n' "$a_n" >> "$a_R/results.txt"; progress missing "$a_n"; continue; }
    a_T=/mnt/t$a_n
    standin_mount "$a_tdev" "$a_T" rw || { progress error "target-$a_n-mount"; exit 1; }
    grep "^step [0-9]* $a_n " /run/job.txt > /run/steps-$a_n.txt
    while read -r _ a_step _t a_action a_path a_meta a_key a_kind a_ubr <&4; do
        progress step "$a_step" begin
        a_start=$(now)
        a_log=$(printf '%s/dism-%02d.log' "$a_R" "$a_step")
        echo "stand-in agent (test fixture): step $a_step $a_action $a_key" > "$a_log"
        a_rc=0
        case $a_mode in
            fail@"$a_step"@*)
                a_rc=${a_mode##*@}
                echo "Error: $a_rc" >> "$a_log"
                echo "The operation failed on purpose (stand-in mode $a_mode)." >> "$a_log" ;;
            noop) echo "nothing recorded (stand-in mode noop)" >> "$a_log" ;;
            *)
                case $a_action in
                    add-package)
                        a_m=$a_J/$(echo "$a_meta" | tr '\\' '/')
                        if record_package "$a_T" "$a_m" "$a_key" "$a_ubr" >> "$a_log" 2>&1; then
                            echo "recorded $a_key" >> "$a_log"
                        else
                            echo "Error: recording $a_key failed" >> "$a_log"; a_rc=14
                        fi ;;
                    cleanup | cleanup-resetbase) echo "component cleanup: nothing to record" >> "$a_log" ;;
                    enable-netfx3) echo "NetFx3: nothing recorded by the stand-in" >> "$a_log" ;;
                    *) echo "Error: unknown action $a_action" >> "$a_log"; a_rc=87 ;;
                esac ;;
        esac
        printf 'step %s exit %s start %s end %s\r\n' "$a_step" "$a_rc" "$a_start" "$(now)" >> "$a_R/results.txt"
        progress step "$a_step" end "$a_rc"
        [ "$a_rc" = 0 ] || { progress target "$a_n" failed; break; }
    done 4< /run/steps-$a_n.txt
    ls "$a_T/Windows/servicing/Packages" 2>/dev/null | sed -n 's/\.mum$//p' > "$a_R/packages-$a_n.txt"
    sync
    umount "$a_T"
done 3< /run/job.txt

printf 'end\r\n' >> "$a_R/results.txt"
progress done
sync
umount "$a_J"
exit 0
