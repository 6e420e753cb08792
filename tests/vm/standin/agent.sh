#!/bin/sh
# wimcore's stand-in agent: the guest half of the vm backend's job protocol, for the tests.
# A TEST FIXTURE, NEVER SERVICING: where the Windows guest runs DISM, this records on the
# NTFS volume what an install records (the package's .mum/.cat under
# Windows/servicing/Packages, the CBS Packages\<identity> key with CurrentState 0x70 in
# SOFTWARE, the UBR of a cumulative update, a session in Sessions.xml), so that wimcore's
# orchestration and post-check can be tested for real. It reads the same job file the
# Windows batch is generated from and writes the same results file.
#
# It follows the job's own records as the Windows batch does: "codes ACTION C,C..." (after
# which codes a target goes on; every other code stops it), "wait TRIES SECONDS" (how long
# to wait for a target volume's marker), "collect SOURCE DEST" (WinPE logs copied back to
# results\DEST before power-off; X:\ is the RAM root / here).
#
# Like DISM, it answers 0x800F081E (not applicable) to adding a cumulative update older
# than the image's UBR (nothing recorded), removes superseded cumulative updates (every
# Package_for_RollupFix but the newest: .mum and CBS key) on cleanup, and writes
# X:\Windows\Logs\CBS\CBS.log and X:\Windows\Logs\DISM\dism.log as it goes.
#
# The test picks a behaviour on the kernel command line, per target:
#   wimcore.standin=T:MODE[,T:MODE...]  (targets not named: ok)
#   ok          record the install, exit code 0
#   fail@S@CODE step S fails with exit code CODE (nothing recorded for it)
#   na@S        step S answers 0x800F081E (not applicable) and records nothing
#   pending     cleanup steps answer 0x800F0806 (pending until boot) and clean nothing
#   late@SEC    the target's volume is not seen until SEC seconds after the agent started
#   stall@S     stop writing anything at step S (hang: the host's no-progress timeout)
#   noop        exit code 0 for every step, nothing recorded (DISM's silent no-op)
# and for the whole job:
#   wimcore.standin=nojobdisk   never see the job disk (the launcher's error line)
#   wimcore.standin=hostilelogs  also leave hostile files among WinPE's logs (odd names, a
#                               symbolic link, one far over the host's size limit)
#   wimcore.standin=hang        never finish (the host's timeout must kill the VM)
#   wimcore.standin=noresults   power off without writing a results file
#   wimcore.standin=huge        a results file far over the host's size limit
#   wimcore.standin=lie         a results file recording a step the job does not have
. /lib/standin/functions.sh
# Every variable here is a_*: the helpers' variables (mode, key, rc, ...) are global in sh.

progress() { echo "wimcore-progress $*"; }
now() { echo "$(date +%H:%M:%S).00"; }
uptime_s() { read -r a_up _ < /proc/uptime; echo "${a_up%%.*}"; }
a_t0=$(uptime_s)
# WinPE's RAM disk X: is the root here: its logs go where WinPE keeps them.
a_X=/x
mkdir -p "$a_X/Windows/Logs/CBS" "$a_X/Windows/Logs/DISM" "$a_X/Windows/Panther"
cbslog() { echo "$(date '+%Y-%m-%d %H:%M:%S'), Info                  CBS    $*" >> "$a_X/Windows/Logs/CBS/CBS.log"; }
dismlog() { echo "$(date '+%Y-%m-%d %H:%M:%S'), Info                  DISM   $*" >> "$a_X/Windows/Logs/DISM/dism.log"; }

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

target_mode() {  # target_mode N -> ok | noop | fail@S@CODE | ... (see above)
    for a_m in $(echo "$a_modes" | tr ',' ' '); do
        case $a_m in
            "$1":*) echo "${a_m#*:}"; return ;;
        esac
    done
    echo ok
}

goes_on() {  # goes_on ACTION RC: does the job's codes record let the target go on?
    a_list=$(sed -n "s/^codes $1 //p" /run/job.txt)
    [ -n "$a_list" ] || a_list=0  # a job without codes records: success is 0 only
    for a_c in $(echo "$a_list" | tr ',' ' '); do
        [ "$a_c" = "$2" ] && return 0
    done
    return 1
}

find_target() {  # find_target N -> device; waits as the job's "wait" record says
    a_marker="\$wimcore/$a_jobid-target-$1.txt"
    a_tries=$(sed -n 's/^wait \([0-9]*\) [0-9]*$/\1/p' /run/job.txt)
    a_pause=$(sed -n 's/^wait [0-9]* \([0-9]*\)$/\1/p' /run/job.txt)
    a_tries=${a_tries:-1} a_pause=${a_pause:-0}
    a_late=0
    a_tm=$(target_mode "$1")
    case $a_tm in late@*) a_late=${a_tm#late@} ;; esac
    a_try=0
    while :; do
        if [ $(( $(uptime_s) - a_t0 )) -ge "$a_late" ]; then
            standin_find_volume "$a_marker" 2>/dev/null && return 0
        fi
        a_try=$((a_try + 1))
        [ "$a_try" -ge "$a_tries" ] && return 1
        progress note waiting for target "$1" >&2  # stdout is the device's name
        sleep "$a_pause"
    done
}

cu_rev() {  # cu_rev KEY -> the revision a Package_for_RollupFix key's version names
    a_v=${1##*~}
    case $a_v in
        10.0.*) echo "$a_v" | cut -d. -f4 ;;
        *) echo "$a_v" | cut -d. -f2 ;;
    esac
}

image_ubr() {  # image_ubr VOLUME -> the UBR in its SOFTWARE hive (0 when none)
    printf 'cd \\%s\nlsval UBR\n' "$a_CV" > /run/ubr.hsh
    a_u=$(hivexsh -f /run/ubr.hsh "$1/Windows/System32/config/SOFTWARE" 2>/dev/null)
    case $a_u in ''|*[!0-9]*) echo 0 ;; *) echo "$a_u" ;; esac
}

cleanup_superseded() {  # cleanup_superseded VOLUME: remove every RollupFix but the newest
    a_hive=$1/Windows/System32/config/SOFTWARE
    printf 'cd \\%s\nls\n' "$a_CBS" > /run/ls.hsh
    hivexsh -f /run/ls.hsh "$a_hive" | grep '^Package_for_RollupFix~' > /run/rollups.txt || return 0
    a_best=-1
    while read -r a_k; do
        a_r=$(cu_rev "$a_k"); [ "$a_r" -gt "$a_best" ] && a_best=$a_r
    done < /run/rollups.txt
    while read -r a_k; do
        [ "$(cu_rev "$a_k")" -lt "$a_best" ] || continue
        printf 'cd \\%s\\%s\ndel\ncommit\n' "$a_CBS" "$a_k" > /run/del.hsh
        hivexsh -w -f /run/del.hsh "$a_hive" || return 1
        rm -f "$1/Windows/servicing/Packages/$a_k.mum" "$1/Windows/servicing/Packages/$a_k.cat"
        echo "removed superseded $a_k"
        cbslog "Removing superseded package $a_k (component cleanup)"
    done < /run/rollups.txt
}

collect_logs() {  # the job's "collect" records: WinPE's logs back to the job disk
    grep '^collect ' /run/job.txt | while read -r _ a_src a_dst; do
        a_from=$a_X/$(echo "${a_src#X:\\}" | tr '\\' '/')
        a_to=$a_R/$(echo "$a_dst" | tr '\\' '/')
        [ -e "$a_from" ] || continue
        mkdir -p "$a_to"
        if [ -d "$a_from" ]; then cp -RP "$a_from"/. "$a_to"/ 2>/dev/null; else cp "$a_from" "$a_to"/; fi
    done
}

# The launcher waits for the job disk (several searches); "nojobdisk" never sees it.
a_jobdev=""
for a_try in 1 2 3; do
    case $a_modes in *nojobdisk*) ;; *) a_jobdev=$(standin_find_volume wimcore-job.txt) && break ;; esac
    progress note waiting for the job disk
    sleep 1
done
[ -n "$a_jobdev" ] || { progress error no-job-disk wimcore-job.txt; exit 1; }
a_J=/mnt/job
standin_mount "$a_jobdev" "$a_J" rw || { progress error job-disk-mount; exit 1; }
tr -d '\r' < "$a_J/wimcore-job.txt" > /run/job.txt
[ "$(head -n 1 /run/job.txt)" = "wimcore-job 2" ] || { progress error bad-job; exit 1; }
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
cbslog "Loaded Servicing Stack (stand-in, a test fixture) for job $a_jobid"
case $a_modes in
    *hostilelogs*)
        echo "odd name" > "$a_X/Windows/Logs/CBS/..evil name;rm -rf.log"
        ln -s /etc/passwd "$a_X/Windows/Logs/CBS/link.log"
        dd if=/dev/zero of="$a_X/Windows/Logs/DISM/huge.log" bs=1M count=40 2>/dev/null ;;
esac
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
    a_tdev=$(find_target "$a_n") || {
        printf 'missing %s\r\n' "$a_n" >> "$a_R/results.txt"; progress missing "$a_n"; continue; }
    a_T=/mnt/t$a_n
    standin_mount "$a_tdev" "$a_T" rw || { progress error "target-$a_n-mount"; exit 1; }
    grep "^step [0-9]* $a_n " /run/job.txt > /run/steps-$a_n.txt
    while read -r _ a_step _t a_action a_path a_meta a_key a_kind a_ubr <&4; do
        progress step "$a_step" begin
        a_start=$(now)
        a_log=$(printf '%s/dism-%02d.log' "$a_R" "$a_step")
        echo "stand-in agent (test fixture): step $a_step $a_action $a_key" > "$a_log"
        dismlog "step $a_step: $a_action $a_key"
        a_rc=0
        if [ "$a_mode" = "stall@$a_step" ]; then
            sync
            while :; do sleep 60; done
        fi
        case $a_mode in
            fail@"$a_step"@*)
                a_rc=${a_mode##*@}
                echo "Error: $a_rc" >> "$a_log"
                echo "The operation failed on purpose (stand-in mode $a_mode)." >> "$a_log" ;;
            na@"$a_step")
                a_rc=-2146498530
                echo "Error: 0x800f081e The specified package is not applicable to this image (stand-in mode $a_mode)." >> "$a_log" ;;
            noop) echo "nothing recorded (stand-in mode noop)" >> "$a_log" ;;
            *)
                case $a_action in
                    add-package)
                        a_m=$a_J/$(echo "$a_meta" | tr '\\' '/')
                        a_have=$(image_ubr "$a_T")
                        if [ "$a_kind" = cumulative-update ] && [ "$a_ubr" != "-" ] && [ "$a_ubr" -lt "$a_have" ]; then
                            a_rc=-2146498530
                            echo "Error: 0x800f081e The specified package is not applicable to this image (revision $a_ubr is older than the image's $a_have)." >> "$a_log"
                            cbslog "Package $a_key is not applicable: the image is at revision $a_have [HRESULT = 0x800f081e - CBS_E_NOT_APPLICABLE]"
                        elif record_package "$a_T" "$a_m" "$a_key" "$a_ubr" >> "$a_log" 2>&1; then
                            echo "recorded $a_key" >> "$a_log"
                            cbslog "Package $a_key installed (stand-in record)"
                        else
                            echo "Error: recording $a_key failed" >> "$a_log"; a_rc=14
                        fi ;;
                    cleanup | cleanup-resetbase)
                        if [ "$a_mode" = pending ]; then
                            a_rc=-2146498554
                            echo "Error: 0x800f0806 The operation could not be completed because of pending operations (stand-in mode pending)." >> "$a_log"
                            cbslog "Cleanup refused: operations pending until boot [HRESULT = 0x800f0806 - CBS_E_PENDING]"
                        elif cleanup_superseded "$a_T" >> "$a_log" 2>&1; then
                            echo "component cleanup done" >> "$a_log"
                        else
                            echo "Error: cleanup failed" >> "$a_log"; a_rc=14
                        fi ;;
                    enable-netfx3) echo "NetFx3: nothing recorded by the stand-in" >> "$a_log" ;;
                    *) echo "Error: unknown action $a_action" >> "$a_log"; a_rc=87 ;;
                esac ;;
        esac
        printf 'step %s exit %s start %s end %s\r\n' "$a_step" "$a_rc" "$a_start" "$(now)" >> "$a_R/results.txt"
        progress step "$a_step" end "$a_rc"
        goes_on "$a_action" "$a_rc" || { progress target "$a_n" failed; break; }
    done 4< /run/steps-$a_n.txt
    ls "$a_T/Windows/servicing/Packages" 2>/dev/null | sed -n 's/\.mum$//p' > "$a_R/packages-$a_n.txt"
    sync
    umount "$a_T"
done 3< /run/job.txt

collect_logs
printf 'end\r\n' >> "$a_R/results.txt"
progress done
sync
umount "$a_J"
exit 0
