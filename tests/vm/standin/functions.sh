# Helpers for stand-in agents, at /lib/standin/functions.sh in the guest: ". /lib/standin/functions.sh".
# Disks appear as /dev/sdX (IDE, AHCI) or /dev/vdX (virtio); their partitions as /dev/sdX1...
# Each function returns non-zero and says why on stderr when it cannot do its job.

# The whole disks, one /dev path a line.
standin_disks() {
    for dev in /sys/block/sd* /sys/block/vd*; do
        [ -e "$dev" ] && echo "/dev/${dev##*/}"
    done
    return 0
}

# Every volume: each partition, and each disk that has no partition table.
standin_volumes() {
    for disk in /sys/block/sd* /sys/block/vd*; do
        [ -e "$disk" ] || continue
        name=${disk##*/}
        parts=""
        for part in "$disk/$name"*; do
            [ -e "$part" ] && parts="$parts /dev/${part##*/}"
        done
        if [ -n "$parts" ]; then
            for part in $parts; do echo "$part"; done
        else
            echo "/dev/$name"
        fi
    done
    return 0
}

# The file system of a volume from its boot sector: ntfs, vfat, or nothing when neither
# (busybox here has no blkid). NTFS says "NTFS    " at byte 3; FAT12/16 "FAT" at byte 54,
# FAT32 "FAT32" at byte 82.
standin_fstype() {
    if [ "$(dd if="$1" bs=1 skip=3 count=8 2>/dev/null)" = "NTFS    " ]; then
        echo ntfs
    elif [ "$(dd if="$1" bs=1 skip=54 count=3 2>/dev/null)" = "FAT" ] \
        || [ "$(dd if="$1" bs=1 skip=82 count=5 2>/dev/null)" = "FAT32" ]; then
        echo vfat
    fi
}

# Mount a volume: standin_mount DEV DIR [ro|rw] (rw by default). NTFS goes through ntfs-3g
# (FUSE: this kernel has no ntfs3 driver), FAT through the kernel's vfat.
standin_mount() {
    dev=$1 dir=$2 mode=${3:-rw}
    mkdir -p "$dir"
    case $(standin_fstype "$dev") in
        ntfs) ntfs-3g -o "$mode" "$dev" "$dir" ;;
        vfat) mount -t vfat -o "$mode" "$dev" "$dir" ;;
        *) echo "standin_mount: $dev holds no NTFS or FAT file system" >&2; return 1 ;;
    esac
}

# The first volume whose root holds the file MARKER (each volume is mounted read-only at
# /run/standin/probe and unmounted again). Prints its /dev path; returns 1 when none does.
standin_find_volume() {
    marker=$1
    for vol in $(standin_volumes); do
        standin_mount "$vol" /run/standin/probe ro 2>/dev/null || continue
        found=no
        [ -e "/run/standin/probe/$marker" ] && found=yes
        umount /run/standin/probe
        if [ "$found" = yes ]; then
            echo "$vol"
            return 0
        fi
    done
    echo "standin_find_volume: no volume holds $marker" >&2
    return 1
}

# Create a key and its missing parents: standin_hive_mkkey HIVE 'Path\To\Key' (from the root).
standin_hive_mkkey() {
    hive=$1
    parent=""
    script=/run/standin/hivex.$$
    mkdir -p /run/standin
    echo "$2" | tr '\\' '\n' > "$script.parts"
    while IFS= read -r part; do
        [ -n "$part" ] || continue
        if [ -n "$parent" ]; then here="$parent\\$part"; else here="$part"; fi
        printf 'cd \\%s\n' "$here" > "$script"
        if ! hivexsh -f "$script" "$hive" > /dev/null 2>&1; then
            { [ -n "$parent" ] && printf 'cd \\%s\n' "$parent"; printf 'add %s\ncommit\n' "$part"; } > "$script"
            hivexsh -w -f "$script" "$hive" || { rm -f "$script" "$script.parts"; return 1; }
        fi
        parent=$here
    done < "$script.parts"
    rm -f "$script" "$script.parts"
}

# Set one value and keep the key's other values (hivexsh's setval replaces them all):
# standin_hive_setval HIVE 'Path\To\Key' NAME TYPED, TYPED in hivexsh's setval syntax
# (string:abc, dword:0x70, qword:..., hex:TYPE:aa,bb). The key must exist. The other values
# are rewritten from lsval; refused (nothing written) if one cannot be reproduced exactly
# (a non-ASCII or control character in a string). Strings come back as UTF-16LE with a NUL.
standin_hive_setval() {
    hive=$1 key=$2 name=$3 typed=$4
    script=/run/standin/hivex.$$
    mkdir -p /run/standin
    printf 'cd \\%s\nlsval\n' "$key" > "$script"
    hivexsh -f "$script" "$hive" > "$script.values" || { rm -f "$script" "$script.values"; return 1; }
    {
        printf 'cd \\%s\n' "$key"
        awk -v name="$name" -v typed="$typed" -f /lib/standin/lsval-to-setval.awk "$script.values" \
            || { echo "standin_hive_setval: cannot keep the other values of $key" >&2; rm -f "$script" "$script.values"; return 1; }
        echo commit
    } > "$script.new" || { rm -f "$script" "$script.values" "$script.new"; return 1; }
    hivexsh -w -f "$script.new" "$hive"
    rc=$?
    rm -f "$script" "$script.values" "$script.new"
    return $rc
}
