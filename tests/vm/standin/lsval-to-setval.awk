# Turn hivexsh "lsval" output into a "setval" block that writes the same values back, with
# the value NAME (any case) replaced or added as TYPED. Exits 1, printing nothing, when a
# value cannot be reproduced exactly. Used by standin_hive_setval in functions.sh.
BEGIN {
    for (i = 32; i < 127; i++) code[sprintf("%c", i)] = i
    count = 0
    broken = 0
}
function utf16(s,    out, i, c) {
    out = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (!(c in code)) { broken = 1; return "" }
        out = out sprintf("%02x,00,", code[c])
    }
    return out "00,00"
}
function unescape(s,    out, i, c) {
    out = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\\") { i++; c = substr(s, i, 1) }
        out = out c
    }
    return out
}
{
    line = $0
    if (substr(line, 1, 1) != "\"") { broken = 1; next }
    key = ""
    for (i = 2; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (c == "\\") { i++; key = key substr(line, i, 1); continue }
        if (c == "\"") break
        key = key c
    }
    rest = substr(line, i + 1)
    if (substr(rest, 1, 1) != "=") { broken = 1; next }
    rest = substr(rest, 2)
    if (tolower(key) == tolower(name)) next
    if (rest ~ /^dword:[0-9a-fA-F]+$/) {
        value = "dword:0x" substr(rest, 7)
    } else if (rest ~ /^hex\([0-9]+\):/) {
        type = rest; sub(/^hex\(/, "", type); sub(/\).*$/, "", type)
        data = rest; sub(/^hex\([0-9]+\):/, "", data)
        value = "hex:" type ":" data
    } else if (rest ~ /^str\([0-9]+\):".*"$/) {
        type = rest; sub(/^str\(/, "", type); sub(/\).*$/, "", type)
        text = rest; sub(/^str\([0-9]+\):"/, "", text)
        value = "hex:" type ":" utf16(unescape(substr(text, 1, length(text) - 1)))
    } else if (rest ~ /^".*"$/) {
        value = "hex:1:" utf16(unescape(substr(rest, 2, length(rest) - 2)))
    } else {
        broken = 1; next
    }
    keys[count] = key; values[count] = value; count++
}
END {
    if (broken) exit 1
    print "setval " (count + 1)
    for (i = 0; i < count; i++) { print keys[i]; print values[i] }
    print name
    print typed
}
