# nooelint: oelint.var.suggestedvar.CVE_PRODUCT
# (configuration files of this repository)
SUMMARY = "CPU-isolation tuning: sysctl.d, board profile, boot-time tuning service"
DESCRIPTION = "Installs what the board profile (board/${RROS_BOARD}.toml) asks of the running \
               system: the rendered sysctl.d file (timer migration, RT throttling, vmstat \
               interval), the profile itself as /etc/rros/board.toml (read by rros-validate), \
               and rros-tune.service, which applies the runtime part at boot with \
               `rros-validate tune`: cpufreq governor, IRQ affinity, default IRQ mask and the \
               unbound-workqueue cpumask. The kernel command-line part reaches the kernel \
               through the board's boot chain instead (conf/distro/include/rros-cmdline.inc)."
HOMEPAGE = "https://github.com/meta-rros/meta-rros"
BUGTRACKER = "https://github.com/meta-rros/meta-rros/issues"
SECTION = "base"
LICENSE = "MIT"
# The repository carries no licence text to point at.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# The same three files the virtual board installs: the sysctl.d file rendered by
# `rros board render` (files/<board>/ beside this recipe), the profile and the unit, both from
# the repository around the layer (rros_workspace).
SRC_URI = "file://${RROS_BOARD}/${RROS_SYSCTL_FILE} \
           file://board/${RROS_BOARD}.toml \
           file://crates/on-target/rros-validate/systemd/rros-tune.service \
           "
S = "${UNPACKDIR}"

inherit rros_workspace systemd

do_install() {
    install -D -m 0644 ${UNPACKDIR}/${RROS_BOARD}/${RROS_SYSCTL_FILE} ${D}${sysconfdir}/sysctl.d/${RROS_SYSCTL_FILE}
    install -D -m 0644 ${UNPACKDIR}/board/${RROS_BOARD}.toml ${D}${sysconfdir}/rros/board.toml
    install -D -m 0644 ${UNPACKDIR}/crates/on-target/rros-validate/systemd/rros-tune.service \
        ${D}${systemd_system_unitdir}/rros-tune.service
}

SYSTEMD_SERVICE:${PN} = "rros-tune.service"
CONFFILES:${PN} = "${sysconfdir}/sysctl.d/${RROS_SYSCTL_FILE} ${sysconfdir}/rros/board.toml"

# One board, one set of files.
PACKAGE_ARCH = "${MACHINE_ARCH}"

# rros-tune.service runs `rros-validate tune`.
RDEPENDS:${PN} = "rros-validate"
