// SPDX-License-Identifier: GPL-2.0-only
/*
 * rmrr_bench: what VFIO type1 ownership and DMA mapping cost, per device,
 * on whatever kernel boots it (the workbench runs it on unpatched 6.12 and
 * on the series with the same config).  For each device in $BENCH_DEVICES:
 *
 *   BENCH claim_attach.<dev> N min median max    open group + container,
 *   BENCH release.<dev> N min median max         SET_CONTAINER, SET_IOMMU;
 *                                                 closing both (ns)
 *   BENCH iommufd_attach.<dev> ...               the same through iommufd:
 *   BENCH iommufd_release.<dev> ...              open the device cdev and
 *                                                 /dev/iommu, BIND_IOMMUFD,
 *                                                 IOAS_ALLOC, ATTACH to the
 *                                                 IOAS; closing both
 *   BENCH map_4k.<dev> / unmap_4k.<dev> ...      one 4 KiB MAP_DMA/UNMAP_DMA
 *   BENCH map_2m.<dev> / unmap_2m.<dev> ...      one 2 MiB MAP_DMA/UNMAP_DMA
 *   BENCH probe.<dev> N min median max           remove the device, then
 *                                                 rescan its parent bridge:
 *                                                 PCI enumeration, IOMMU
 *                                                 group and default domain
 *                                                 with its direct mappings
 *   BENCH refused.<dev>                          the claim was refused
 *   PTES <dev> <base> <end> <entries>            leaf entries the default
 *                                                 domain holds per RMRR
 *                                                 (<dev>@vfio: the type1
 *                                                 domain's, while claimed)
 *   BENCH boot_grouping 1 t t t                  first to last "Adding to
 *                                                 iommu group" at boot
 *   BENCH hotadd_<n>.no_range N min median max  with BENCH_HOTADD=1: the
 *   BENCH hotadd_<n>.own_range ...               n edu devices behind
 *                                                 bridges that no RMRR names
 *                                                 (or that RMRRs name, each
 *                                                 its own) removed, then one
 *                                                 rescan of every bus, which
 *                                                 adds them back as a hot-add
 *                                                 would: enumeration, IOMMU
 *                                                 probe, the sharer scan,
 *                                                 groups and default domains
 *
 * With BENCH_PROFILE=1 (make profile, a kernel with the function
 * profiler) each device's type1 claims and releases run under ftrace's
 * function profiler instead, and every profiled function is printed:
 *
 *   PROF <dev> <function> <hits> <time ns>       summed over the CPUs,
 *                                                 children included
 *
 * Built with the RMRR selftests' helpers (tools/testing/selftests/iommu).
 */
#include <sys/ioctl.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "rmrr_vfio_utils.h"

#define CLAIMS		30
#define PROBES		10
#define HOTADDS		5
#define MAPS_4K		2000
#define MAPS_2M		200
#define BENCH_IOVA	0x100000000ULL	/* 4 GiB: clear of RMRRs and the MSI window */

struct owner {
	int group_fd;
	int container;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, const char *dev, uint64_t *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("BENCH %s.%s %d %llu %llu %llu\n", what, dev, n, (unsigned long long)v[0],
	       (unsigned long long)v[n / 2], (unsigned long long)v[n - 1]);
}

static int claim(int group, struct owner *o)
{
	o->group_fd = vfio_open_group(group);
	o->container = open("/dev/vfio/vfio", O_RDWR);
	if (o->group_fd < 0 || o->container < 0 ||
	    ioctl(o->group_fd, VFIO_GROUP_SET_CONTAINER, &o->container) ||
	    ioctl(o->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	return 0;
}

static void release(struct owner *o)
{
	if (o->group_fd >= 0)
		close(o->group_fd);
	if (o->container >= 0)
		close(o->container);
}

/*
 * Leaf entries of @bdf's current page table inside each RMRR that names
 * it; @domain says which domain that is ("" default, "@vfio" the type1
 * container's).
 */
static void count_ptes(const char *bdf, const struct dmar_info *dmar,
		       const char *domain)
{
	int i;

	for (i = 0; i < dmar->nr_rmrr; i++) {
		const struct dmar_rmrr *r = &dmar->rmrr[i];
		struct leaf_count c;
		struct devlist devs;

		dmar_rmrr_devices(r, &devs);
		if (devlist_index(&devs, bdf) < 0 ||
		    domain_count_leaves(bdf, r->base, r->end, &c))
			continue;
		printf("PTES %s%s 0x%llx 0x%llx %ld\n", bdf, domain, (unsigned long long)r->base,
		       (unsigned long long)r->end, c.entries);
	}
}

/* The iommufd claim: BIND_IOMMUFD takes DMA ownership, ATTACH the HWPT. */
static int claim_iommufd(const char *cdev, struct owner *o)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

	o->group_fd = open(cdev, O_RDWR);		/* the device */
	o->container = open("/dev/iommu", O_RDWR);
	if (o->group_fd < 0 || o->container < 0)
		return -errno;
	bind.iommufd = o->container;
	if (ioctl(o->group_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
	    ioctl(o->container, IOMMU_IOAS_ALLOC, &alloc))
		return -errno;
	attach.pt_id = alloc.out_ioas_id;
	return ioctl(o->group_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) ? -errno : 0;
}

static void bench_claim_iommufd(const char *bdf)
{
	const char *dev = bdf + 5;
	static uint64_t attach[CLAIMS], rel[CLAIMS];
	char cdev[PATH_MAX];
	struct owner o;
	int i;

	if (cdev_path(bdf, cdev, sizeof(cdev))) {
		printf("BENCH error.iommufd.%s no cdev\n", dev);
		return;
	}
	for (i = 0; i < CLAIMS; i++) {
		uint64_t t0 = now_ns(), t1;
		int ret = claim_iommufd(cdev, &o);

		attach[i] = now_ns() - t0;
		t1 = now_ns();
		release(&o);
		rel[i] = now_ns() - t1;
		if (ret) {
			printf("BENCH error.iommufd.%s %d\n", dev, ret);
			return;
		}
	}
	report("iommufd_attach", dev, attach, CLAIMS);
	report("iommufd_release", dev, rel, CLAIMS);
}

#define TRACING		"/sys/kernel/tracing"

static bool profiling(void)
{
	return getenv("BENCH_PROFILE");
}

/*
 * Only the second round of a device's claims is profiled: the first one
 * pays for TCG translating the claim path's code, which would otherwise
 * be charged to whichever device comes first.
 */
static bool profile_armed;

/* Zero the function profiler's counts and start it. */
static void profile_start(void)
{
	if (!profiling() || !profile_armed)
		return;
	sysfs_write(TRACING "/function_profile_enabled", "0");
	sysfs_write(TRACING "/function_profile_enabled", "1");
}

/*
 * Stop the profiler and print what it counted for @dev.  Its per-CPU
 * files list "function hits time us avg us s^2 us"; a function that ran
 * on both CPUs is printed once per CPU, and the reader adds them up.
 */
static void profile_stop(const char *dev)
{
	char path[PATH_MAX], line[512], fn[256];
	double usec;
	long hits;
	int cpu;

	if (!profiling() || !profile_armed)
		return;
	sysfs_write(TRACING "/function_profile_enabled", "0");
	for (cpu = 0; ; cpu++) {
		FILE *f;

		snprintf(path, sizeof(path), TRACING "/trace_stat/function%d", cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, " %255s %ld %lf us", fn, &hits, &usec) == 3)
				printf("PROF %s %s %ld %.0f\n", dev, fn, hits, usec * 1000);
		fclose(f);
	}
}

static bool bench_claim(const char *bdf, int group, const struct dmar_info *dmar)
{
	const char *dev = bdf + 5;
	static uint64_t attach[CLAIMS], rel[CLAIMS];
	struct owner o;
	int i;

	profile_start();
	for (i = 0; i < CLAIMS; i++) {
		uint64_t t0 = now_ns(), t1;
		int ret = claim(group, &o);

		attach[i] = now_ns() - t0;
		if (!ret && !i && !profiling())
			count_ptes(bdf, dmar, "@vfio");	/* not timed */
		t1 = now_ns();
		release(&o);
		rel[i] = now_ns() - t1;
		if (ret) {
			printf("BENCH refused.%s %d\n", dev, ret);
			return false;
		}
	}
	profile_stop(dev);
	report("claim_attach", dev, attach, CLAIMS);
	report("release", dev, rel, CLAIMS);
	return true;
}

static void bench_map(const char *dev, int group, uint64_t size, int reps,
		      const char *map_name, const char *unmap_name)
{
	static uint64_t map[MAPS_4K], unmap[MAPS_4K];
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u) };
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.iova = BENCH_IOVA,
		.size = size,
	};
	struct owner o;
	void *mem;
	int i;

	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED || claim(group, &o)) {
		printf("BENCH error.%s.%s\n", map_name, dev);
		exit(1);
	}
	m.vaddr = (uintptr_t)mem;
	u.iova = BENCH_IOVA;
	u.size = size;
	for (i = 0; i < reps; i++) {
		uint64_t t0 = now_ns(), t1;

		if (ioctl(o.container, VFIO_IOMMU_MAP_DMA, &m))
			exit(printf("BENCH error.%s.%s %d\n", map_name, dev, errno) && 1);
		t1 = now_ns();
		if (ioctl(o.container, VFIO_IOMMU_UNMAP_DMA, &u) || u.size != size)
			exit(printf("BENCH error.%s.%s %d\n", unmap_name, dev, errno) && 1);
		map[i] = t1 - t0;
		unmap[i] = now_ns() - t1;
		u.size = size;
	}
	report(map_name, dev, map, reps);
	report(unmap_name, dev, unmap, reps);
	release(&o);
	munmap(mem, size);
}

/* The bridge above @bdf, from its sysfs path (".../0000:00:04.0/0000:04:00.0"). */
static int parent_bridge(const char *bdf, char *parent, size_t size)
{
	char path[PATH_MAX], real[PATH_MAX], *slash;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s", bdf);
	if (!realpath(path, real) || !(slash = strrchr(real, '/')))
		return -ENOENT;
	*slash = 0;
	slash = strrchr(real, '/');
	if (!slash || strncmp(slash + 1, "0000:", 5))
		return -ENOENT;		/* on the root bus: no bridge to rescan */
	snprintf(parent, size, "%s", slash + 1);
	return 0;
}

/*
 * Hot-remove @bdf and time the rescan that finds it again: with no driver
 * bound (edu has none) that is enumeration, the IOMMU probe, its group and
 * the default domain, direct mappings included.
 */
static bool bench_probe(const char *bdf)
{
	static uint64_t t[PROBES];
	char parent[BDF_LEN + 8], path[PATH_MAX];
	int i;

	if (parent_bridge(bdf, parent, sizeof(parent)))
		return false;
	for (i = 0; i < PROBES; i++) {
		uint64_t t0;

		snprintf(path, sizeof(path), PCI_DEVICES "/%s/remove", bdf);
		if (sysfs_write(path, "1"))
			return false;
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/rescan", parent);
		t0 = now_ns();
		if (sysfs_write(path, "1"))
			return false;
		t[i] = now_ns() - t0;
		if (!pci_exists(bdf) || pci_group(bdf) < 0)
			return false;
	}
	report("probe", bdf + 5, t, PROBES);
	return true;
}

/* Is @bdf an edu device behind a bridge that an RMRR of @dmar names (or not)? */
static bool hotadd_candidate(const char *bdf, const struct dmar_info *dmar,
			     bool named)
{
	char parent[BDF_LEN + 8];
	struct devlist devs;
	bool found = false;
	int i;

	if (pci_attr(bdf, "vendor") != 0x1234 || pci_attr(bdf, "device") != 0x11e8 ||
	    parent_bridge(bdf, parent, sizeof(parent)))
		return false;
	for (i = 0; i < dmar->nr_rmrr && !found; i++) {
		dmar_rmrr_devices(&dmar->rmrr[i], &devs);
		found = devlist_index(&devs, bdf) >= 0;
	}
	return found == named;
}

/*
 * Remove every edu behind a bridge that RMRRs name (@named) or that none
 * names, then time the rescan of all buses that adds them back.  A
 * benchmark table whose RMRRs share nothing shows what the sharer scan
 * costs where nothing is shared.
 */
static bool bench_hotadd(const struct dmar_info *dmar, bool named)
{
	static uint64_t t[HOTADDS];
	static struct devlist set;
	char path[PATH_MAX], what[32];
	struct dirent *de;
	DIR *d;
	int i, j;

	set.nr = 0;
	d = opendir(PCI_DEVICES);
	if (!d)
		return false;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && hotadd_candidate(de->d_name, dmar, named))
			devlist_add(&set, de->d_name);
	closedir(d);
	if (!set.nr)
		return true;
	for (i = 0; i < HOTADDS; i++) {
		uint64_t t0;

		for (j = 0; j < set.nr; j++) {
			snprintf(path, sizeof(path), PCI_DEVICES "/%s/remove", set.bdf[j]);
			if (sysfs_write(path, "1"))
				return false;
		}
		t0 = now_ns();
		if (sysfs_write("/sys/bus/pci/rescan", "1"))
			return false;
		t[i] = now_ns() - t0;
		for (j = 0; j < set.nr; j++)
			if (!pci_exists(set.bdf[j]) || pci_group(set.bdf[j]) < 0)
				return false;
	}
	snprintf(what, sizeof(what), "hotadd_%d", set.nr);
	report(what, named ? "own_range" : "no_range", t, HOTADDS);
	return true;
}

/*
 * Nanoseconds from the first to the last "Adding to iommu group" record
 * of this boot, from /dev/kmsg ("prio,seq,usec,flags;text"): the bench
 * boots with loglevel=4, so the console does not carry them.
 */
static void bench_grouping(void)
{
	long long first = -1, last = -1;
	char rec[1024];
	ssize_t n;
	int fd;

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return;
	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		unsigned long long usec;
		char *text;

		if (n <= 0)
			continue;	/* EPIPE: records overwritten, go on */
		rec[n] = 0;
		text = strchr(rec, ';');
		if (!text || sscanf(rec, "%*u,%*u,%llu", &usec) != 1 ||
		    !strstr(text, ": Adding to iommu group "))
			continue;
		if (first < 0)
			first = usec;
		last = usec;
	}
	close(fd);
	if (last > first)
		printf("BENCH boot_grouping 1 %lld %lld %lld\n", (last - first) * 1000,
		       (last - first) * 1000, (last - first) * 1000);
}

int main(void)
{
	const char *list = getenv("BENCH_DEVICES");
	static struct dmar_info dmar;
	char devs[256], *dev, *save;

	if (!list || dmar_read(NULL, &dmar)) {
		fprintf(stderr, "rmrr_bench: set BENCH_DEVICES; needs the DMAR table\n");
		return 2;
	}
	bench_grouping();	/* before the probes add their own lines */
	if (getenv("BENCH_HOTADD") &&
	    (!bench_hotadd(&dmar, false) || !bench_hotadd(&dmar, true))) {
		printf("BENCH error.hotadd\n");
		return 1;
	}
	snprintf(devs, sizeof(devs), "%s", list);
	for (dev = strtok_r(devs, " ", &save); dev; dev = strtok_r(NULL, " ", &save)) {
		char bdf[BDF_LEN];
		int group;

		bdf_copy(bdf, dev);
		if (!bench_probe(bdf)) {
			printf("BENCH error.probe.%s\n", bdf + 5);
			return 1;
		}
		count_ptes(bdf, &dmar, "");
		group = pci_group(bdf);
		if (group < 0 || vfio_bind_group(group)) {
			printf("BENCH error.bind.%s\n", bdf + 5);
			return 1;
		}
		if (profiling()) {
			bench_claim(bdf, group, &dmar);		/* warm-up */
			profile_armed = true;
			bench_claim(bdf, group, &dmar);
			profile_armed = false;
		} else if (bench_claim(bdf, group, &dmar)) {
			bench_claim_iommufd(bdf);
			bench_map(bdf + 5, group, 0x1000, MAPS_4K, "map_4k", "unmap_4k");
			bench_map(bdf + 5, group, 0x200000, MAPS_2M, "map_2m", "unmap_2m");
		}
		vfio_unbind_group(group);
	}
	return 0;
}
