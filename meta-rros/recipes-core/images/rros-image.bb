# nooelint: oelint.var.suggestedvar.CVE_PRODUCT
# (an image: its packages carry their own CVE products)
SUMMARY = "RROS real-time appliance: a board that proves its own latency budget"
DESCRIPTION = "Headless image for a meta-rros board: the board's real-time kernel with its CPU \
               isolation, rros-tune.service applying the runtime tuning at boot, \
               rros-validate.service measuring after boot when the distro enables it \
               (RROS_VALIDATE_AT_BOOT; PASS/FAIL/ERROR report in \
               /var/lib/rros-validate, one line in the journal), cyclictest-rs, rt-tests, \
               stress-ng, the libevl tools on dual-kernel boards, and an OpenSSH server for \
               `rros accept` and testimage."
HOMEPAGE = "https://github.com/meta-rros/meta-rros"
BUGTRACKER = "https://github.com/meta-rros/meta-rros/issues"
SECTION = "images"
LICENSE = "MIT"
# The image recipe itself is covered by the repository's licence; there is no text to point at.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

inherit core-image

IMAGE_FEATURES += "ssh-server-openssh"

# kernel-modules: the kernels build much as modules (rros_defconfig: ~1700 options =m), and
# packagegroup-core-boot does not install them. Named here rather than through
# packagegroup-base, which would also pull the BSP's firmware and radio drivers (on the i.MX
# one built for NXP's lf-6.18 kernel, not for the 5.13 RROS kernel).
IMAGE_INSTALL = "packagegroup-core-boot kernel-modules ${CORE_IMAGE_EXTRA_INSTALL} \
                 rros-validate cyclictest-rs rros-tuning \
                 rt-tests stress-ng \
                 ${RROS_LIBEVL_PACKAGES} \
                 "

# SD-card boards: a compressed disk image plus its block map (`bmaptool copy` finds the .bmap
# next to the .wic.bz2). The NUC: a plain disk image to dd or bmaptool onto its SSD. The QEMU
# boards keep their machine's formats (runqemu boots those).
IMAGE_FSTYPES:raspberrypi4-64 = "wic.bz2 wic.bmap"
IMAGE_FSTYPES:imx8mp-lpddr4-evk = "wic.bz2 wic.bmap"
IMAGE_FSTYPES:intel-corei7-64 = "wic wic.bmap"

# Production images lock root (conf/distro/include/rros-security.inc); SSH then takes keys only.
# Put public keys here (one per line, `\n` between them) to log in as root, e.g. for
# `rros accept`: RROS_SSH_AUTHORIZED_KEYS = "ssh-ed25519 AAAA... you@host".
RROS_SSH_AUTHORIZED_KEYS ??= ""
ROOTFS_POSTPROCESS_COMMAND += "rros_install_authorized_keys"
rros_install_authorized_keys[doc] = "Installs RROS_SSH_AUTHORIZED_KEYS as root's authorized_keys"
rros_install_authorized_keys() {
    if [ -n "${RROS_SSH_AUTHORIZED_KEYS}" ]; then
        install -d -m 0700 ${IMAGE_ROOTFS}${ROOT_HOME}/.ssh
        printf '%b\n' "${RROS_SSH_AUTHORIZED_KEYS}" > ${IMAGE_ROOTFS}${ROOT_HOME}/.ssh/authorized_keys
        chmod 0600 ${IMAGE_ROOTFS}${ROOT_HOME}/.ssh/authorized_keys
    fi
}

# testimage (development images only, RROS_DEVELOPMENT = "1"): boot, SSH, then one
# `rros-validate run` on the target, judged by lib/oeqa/runtime/cases/rros_latency.py.
TEST_SUITES ?= "ping ssh rros_latency"
# How long each scenario measures under testimage (rros-validate --duration). Short by default:
# testimage proves the chain works; long acceptance runs are `rros accept` or the boot service.
RROS_TESTIMAGE_DURATION ?= "30s"
