// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_claim - try to give an IOMMU group to VFIO type1, as a VMM does
 * at VM start, and say what the kernel answered.
 *
 *   vfio_claim GROUP [SECONDS]
 *   vfio_claim GROUP --hold FILE
 *
 * Opens /dev/vfio/vfio and /dev/vfio/GROUP (every device of the group
 * must already be bound to vfio-pci), then VFIO_GROUP_SET_CONTAINER and
 * VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU).  Prints "claimed" or the failing
 * step and its errno name, and exits 0 when claimed, 1 when refused, 2
 * when it could not try.  With SECONDS, claims and releases (closes both
 * files) back to back for that long, as a VMM restarting a guest in a
 * loop would, prints how many claims it made, and exits 1 on the first
 * refusal.  With --hold FILE, claims once, prints "claimed", and holds
 * the claim until FILE exists, then releases it (closes the files): a
 * test can arm fault injection for the release alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

/* One claim, as described above; the files stay open (the claim held). */
static int claim(const char *name, int *container, int *group, bool quiet)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[64];

	*container = open("/dev/vfio/vfio", O_RDWR);
	snprintf(path, sizeof(path), "/dev/vfio/%s", name);
	*group = open(path, O_RDWR);
	if (*container < 0 || *group < 0) {
		printf("vfio_claim: cannot open %s: %s\n",
		       *container < 0 ? "/dev/vfio/vfio" : path, strerror(errno));
		return 2;
	}
	if (ioctl(*group, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		printf("vfio_claim: group %s is not viable (bind all its devices to vfio-pci)\n",
		       name);
		return 2;
	}
	if (ioctl(*group, VFIO_GROUP_SET_CONTAINER, container)) {
		printf("vfio_claim: VFIO_GROUP_SET_CONTAINER: %s\n", strerrorname_np(errno));
		return 1;
	}
	if (ioctl(*container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		printf("vfio_claim: VFIO_SET_IOMMU: %s\n", strerrorname_np(errno));
		return 1;
	}
	if (!quiet)
		printf("vfio_claim: group %s claimed\n", name);
	return 0;
}

int main(int argc, char **argv)
{
	int container, group, ret;
	long claims = 0;
	time_t end;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: vfio_claim GROUP [SECONDS | --hold FILE]\n");
		return 2;
	}
	if (argc == 2)
		return claim(argv[1], &container, &group, false);
	if (!strcmp(argv[2], "--hold")) {
		if (argc != 4) {
			fprintf(stderr, "usage: vfio_claim GROUP --hold FILE\n");
			return 2;
		}
		ret = claim(argv[1], &container, &group, false);
		fflush(stdout);
		if (ret)
			return ret;
		while (access(argv[3], F_OK))
			usleep(10000);
		close(group);
		close(container);
		printf("vfio_claim: group %s released\n", argv[1]);
		return 0;
	}

	end = time(NULL) + atoi(argv[2]);
	do {
		ret = claim(argv[1], &container, &group, true);
		close(group);
		close(container);
		if (ret)
			break;
		claims++;
	} while (time(NULL) < end);
	printf("vfio_claim: %ld claims and releases of group %s\n", claims, argv[1]);
	return ret;
}
