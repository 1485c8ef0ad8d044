// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_claim - try to give an IOMMU group to VFIO type1, as a VMM does
 * at VM start, and say what the kernel answered.
 *
 *   vfio_claim GROUP
 *
 * Opens /dev/vfio/vfio and /dev/vfio/GROUP (every device of the group
 * must already be bound to vfio-pci), then VFIO_GROUP_SET_CONTAINER and
 * VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU).  Prints "claimed" or the failing
 * step and its errno name, and exits 0 when claimed, 1 when refused, 2
 * when it could not try.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

int main(int argc, char **argv)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[64];
	int container, group;

	if (argc != 2) {
		fprintf(stderr, "usage: vfio_claim GROUP\n");
		return 2;
	}
	container = open("/dev/vfio/vfio", O_RDWR);
	snprintf(path, sizeof(path), "/dev/vfio/%s", argv[1]);
	group = open(path, O_RDWR);
	if (container < 0 || group < 0) {
		printf("vfio_claim: cannot open %s: %s\n",
		       container < 0 ? "/dev/vfio/vfio" : path, strerror(errno));
		return 2;
	}
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		printf("vfio_claim: group %s is not viable (bind all its devices to vfio-pci)\n",
		       argv[1]);
		return 2;
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container)) {
		printf("vfio_claim: VFIO_GROUP_SET_CONTAINER: %s\n", strerrorname_np(errno));
		return 1;
	}
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		printf("vfio_claim: VFIO_SET_IOMMU: %s\n", strerrorname_np(errno));
		return 1;
	}
	printf("vfio_claim: group %s claimed\n", argv[1]);
	return 0;
}
