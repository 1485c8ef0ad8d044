// SPDX-License-Identifier: GPL-2.0
/*
 * edu_dma - one DMA round trip by a QEMU edu device through whatever
 * IOMMU domain it is in, with no driver bound: the oracle of the AMD
 * tests, where QEMU's amd-iommu reports no fault events.
 *
 *   edu_dma BDF ADDR
 *
 * Writes a fresh pattern at physical ADDR and a sentinel 2 KiB above it
 * (through /dev/mem: ADDR must be reserved memory, which STRICT_DEVMEM
 * allows), has the edu read the pattern at bus address ADDR into its
 * buffer and write it back at ADDR + 2 KiB, then compares.  The bus
 * address is ADDR itself, so the round trip works only if the device's
 * domain maps ADDR 1:1 for reading and writing.  A read the IOMMU
 * refuses returns zeros on QEMU, a refused write is dropped: either way
 * the copy differs.  Exit 0 when it matches, 1 when it does not, 2 when
 * the test could not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define EDU_ID		0x00
#define EDU_ID_VALUE	0x010000ed
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_COUNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_CMD_START	0x1
#define EDU_CMD_TO_RAM	0x2
#define EDU_BUFFER	0x40000
#define LEN		64
#define BACK		2048

static volatile uint8_t *bar;

static void reg_write(unsigned int off, uint64_t val)
{
	*(volatile uint64_t *)(bar + off) = val;
}

static uint64_t reg_read(unsigned int off)
{
	return *(volatile uint64_t *)(bar + off);
}

/* edu answers below 0x80 only to 32-bit reads. */
static uint32_t reg_read32(unsigned int off)
{
	return *(volatile uint32_t *)(bar + off);
}

/* edu starts a DMA about 100 ms after the command; wait up to 10 s. */
static int edu_dma(uint64_t src, uint64_t dst, uint64_t cmd)
{
	int i;

	reg_write(EDU_DMA_SRC, src);
	reg_write(EDU_DMA_DST, dst);
	reg_write(EDU_DMA_COUNT, LEN);
	reg_write(EDU_DMA_CMD, EDU_CMD_START | cmd);
	for (i = 0; i < 1000; i++) {
		if (!(reg_read(EDU_DMA_CMD) & EDU_CMD_START))
			return 0;
		usleep(10000);
	}
	return -1;
}

static int fail(const char *what)
{
	fprintf(stderr, "edu_dma: %s: %s\n", what, strerror(errno));
	return 2;
}

int main(int argc, char **argv)
{
	uint8_t pattern[LEN];
	volatile uint8_t *mem;
	char path[256];
	uint16_t command;
	uint64_t addr;
	int fd, i;

	if (argc != 3) {
		fprintf(stderr, "usage: edu_dma BDF ADDR\n");
		return 2;
	}
	addr = strtoull(argv[2], NULL, 0);
	if (addr & 0xfff)
		return errno = EINVAL, fail("ADDR is not page aligned");

	/* Memory space and bus mastering on, as a driver would. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", argv[1]);
	fd = open(path, O_RDWR);
	if (fd < 0 || pread(fd, &command, 2, 4) != 2)
		return fail(path);
	command |= 0x6;
	if (pwrite(fd, &command, 2, 4) != 2)
		return fail("enable bus master");
	close(fd);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", argv[1]);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		return fail(path);
	bar = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar == MAP_FAILED)
		return fail("mmap resource0");
	if (reg_read32(EDU_ID) != EDU_ID_VALUE) {
		fprintf(stderr, "edu_dma: %s is no edu (id %#x)\n", argv[1],
			reg_read32(EDU_ID));
		return 2;
	}

	fd = open("/dev/mem", O_RDWR | O_SYNC);
	if (fd < 0)
		return fail("/dev/mem");
	mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, addr);
	if (mem == MAP_FAILED)
		return fail("mmap /dev/mem at ADDR");

	srand(time(NULL) ^ getpid());
	for (i = 0; i < LEN; i++) {
		pattern[i] = 1 + rand() % 254;	/* never 0: a refused read gives 0 */
		mem[i] = pattern[i];
		mem[BACK + i] = 0xa5;
	}

	if (edu_dma(addr, EDU_BUFFER, 0) || edu_dma(EDU_BUFFER, addr + BACK, EDU_CMD_TO_RAM)) {
		fprintf(stderr, "edu_dma: the DMA did not finish\n");
		return 2;
	}
	for (i = 0; i < LEN; i++) {
		if (mem[BACK + i] != pattern[i]) {
			printf("edu_dma: %s at %#llx: byte %d is %#x, wrote %#x\n", argv[1],
			       (unsigned long long)addr, i, mem[BACK + i], pattern[i]);
			return 1;
		}
	}
	printf("edu_dma: %s read and wrote %d bytes at %#llx\n", argv[1], LEN,
	       (unsigned long long)addr);
	return 0;
}
