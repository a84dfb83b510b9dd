/* SPDX-License-Identifier: MIT */
/*
 * The device registry: the on-disk shape that stands in for the kernel's
 * RDMA sysfs classes and device nodes. `rdma-tcp link add` writes it, stock
 * libibverbs reads it (through SYSFS_PATH), and the tcp provider reads the
 * few private files it needs to find the netdev behind a device.
 *
 * Layout, with ROOT = $RDMA_TCP_ROOT or RDMA_TCP_DEFAULT_ROOT:
 *
 *   ROOT/sys/class/infiniband_verbs/abi_version      "6"
 *   ROOT/sys/class/infiniband_verbs/uverbsN/ibdev    device name, e.g. "tcp0"
 *   ROOT/sys/class/infiniband_verbs/uverbsN/dev      "1:7" (see below)
 *   ROOT/sys/class/infiniband_verbs/uverbsN/abi_version  "1"
 *   ROOT/sys/class/infiniband/NAME/node_type         "1: CA"
 *   ROOT/sys/class/infiniband/NAME/node_guid         "xxxx:xxxx:xxxx:xxxx"
 *   ROOT/sys/class/infiniband/NAME/sys_image_guid    same form
 *   ROOT/sys/class/infiniband/NAME/fw_ver, hw_rev, hca_type, node_desc
 *   ROOT/sys/class/infiniband/NAME/parent            netdev name
 *   ROOT/sys/class/infiniband/NAME/tcp_netns         inode of the creator's
 *                                                    network namespace
 *   ROOT/sys/class/infiniband/NAME/tcp_uverbs        "uverbsN"
 *   ROOT/sys/class/infiniband/NAME/ports/1/gids/I    RDMA_TCP_GID_TBL_LEN of
 *   ROOT/sys/class/infiniband/NAME/ports/1/gid_attrs/types/I  "RoCE v2"
 *   ROOT/sys/class/infiniband/NAME/ports/1/gid_attrs/ndevs/I  netdev name
 *   ROOT/sys/class/infiniband/NAME/ports/1/pkeys/0   "0xffff"
 *   ROOT/sys/class/infiniband/NAME/ports/1/link_layer "Ethernet"
 *   ROOT/sys/class/infiniband/NAME/tcp_psp           security config, below
 *   ROOT/sys/class/infiniband/NAME/tcp_psp_rotation  "N": `link rotate` count
 *   ROOT/sys/class/infiniband/NAME/tcp_cc   the congestion control of the
 *                             device's connections ("bbr"; missing: the
 *                             netns default), read at each connection
 *   ROOT/sys/class/infiniband/NAME/ports/1/hw_counters/C  the device's
 *                             counters, one file each, kept by the device's
 *                             daemon from ROOT/run/stat (<rdma_tcp/stat.h>)
 *   ROOT/sys/class/infiniband/NAME/tcp_hw_retired  "C N" lines: the totals
 *                             of the device's contexts that are over
 *   ROOT/sys/class/infiniband/NAME/tcp_cm_port  "N": the TCP port of the
 *                             device's rdma_cm control listener (none: 4791)
 *   ROOT/etc/host.key         the host key: 64 hex digits, mode 0600 (0640
 *                             with a group); made by the first `link add`
 *                             that needs it, shared by the ROOT's devices
 *   /dev/infiniband/uverbsN   char device 1:7 (/dev/full), mode 0666; N
 *                             from 512 when the kernel has uverbs devices
 *
 * tcp_psp holds lines "WORD VALUE" (providers/tcp/psp_conf.h reads them):
 *   mode auth|encrypt|off     alg aes128|aes256
 *   key /abs/path             a key file, or the certificate triple:
 *   cert /abs/path   certkey /abs/path   ca /abs/path
 * With no credential line (or no file: a device made before it existed)
 * the device is `auth`, aes128, with ROOT/etc/host.key. Both files hold no
 * secret (only paths) and are world-readable like the rest, since every
 * process that opens the device reads them; the key files they name are
 * readable by their owner and at most one group.
 *
 * The device node is /dev/full's: libibverbs needs a character device whose
 * ioctl() fails with ENOTTY (so it falls back to sysfs for GIDs and pkeys)
 * and whose write() fails instead of "succeeding" with an unfilled response;
 * /dev/full does both, and every Linux host has it.
 */
#ifndef RDMA_TCP_REGISTRY_H
#define RDMA_TCP_REGISTRY_H

#define RDMA_TCP_DEFAULT_ROOT "/run/rdma-tcp"
#define RDMA_TCP_ROOT_ENV     "RDMA_TCP_ROOT"
#define RDMA_TCP_CDEV_DIR     "/dev/infiniband"
#define RDMA_TCP_CDEV_MAJOR   1 /* /dev/full */
#define RDMA_TCP_CDEV_MINOR   7
#define RDMA_TCP_GID_TBL_LEN  16
#define RDMA_TCP_UVERBS_ABI   1	    /* per-device abi_version (driver ABI) */
#define RDMA_TCP_KERNEL_ABI   6	    /* class/infiniband_verbs/abi_version */
#define RDMA_TCP_NAME_PREFIX  "tcp" /* provider matches devices by name */
#define RDMA_TCP_PSP_FILE     "tcp_psp"
#define RDMA_TCP_PSP_ROTATION "tcp_psp_rotation"
#define RDMA_TCP_CC_FILE      "tcp_cc"
#define RDMA_TCP_CM_PORT_FILE "tcp_cm_port"
#define RDMA_TCP_HOST_KEY     "etc/host.key" /* below ROOT */

#endif
