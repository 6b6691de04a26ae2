# The Debian package: `cpack -G DEB` in the build directory makes
# nfsguard_VERSION_ARCH.deb from the install rules, laid out under /usr as
# Debian has it, with the shared libraries' packages found by dpkg-shlibdeps.
set(CPACK_PACKAGE_NAME nfsguard)
set(CPACK_PACKAGE_VENDOR "nfsguard")
set(CPACK_PACKAGE_CONTACT "nfsguard maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "FUSE filesystem that hardens an NFS mount for mail software")
set(CPACK_PACKAGE_DESCRIPTION
    "nfsguard is mounted on top of the NFS mount that holds mailboxes and queues and
passes every call through to it, absorbing what NFS does to mail software:
false errors from lost replies, fcntl locks that stay on one host, a failed
mount that lets mail land on the local disk, the server's clock on new files.
Postfix, Dovecot, procmail and mutt need no change.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The binary is installed without its debugging information.
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# mount -t fuse.nfsguard and fstab lines go through fuse3's mount.fuse3, and
# the unit clears a dead mount with its fusermount3. The libraries (libfuse3,
# spdlog, fmt, the C++ runtime) are what dpkg-shlibdeps finds in the binary.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${CMAKE_CURRENT_LIST_DIR}/postinst;${CMAKE_CURRENT_LIST_DIR}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
