# qemux86-64 is the PREEMPT_RT baseline board: OE-Core's linux-yocto-rt with the same
# real-time tuning fragment as the dual kernels, so acceptance results compare the real-time
# mechanism and not two different sets of tuning choices. Only active in the rros distro.
FILESEXTRAPATHS:prepend:rros := "${THISDIR}/files:"

SRC_URI:append:rros-kernel-preempt-rt = " file://rt-tuning.cfg"
