"""The stand-in guest: a Linux kernel + busybox initramfs that runs an agent script under QEMU.

A test fixture for the VM backend only: it speaks the job protocol in place of WinPE + DISM,
and is never offered to users as servicing.
"""
