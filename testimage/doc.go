// Package testimage generates Flatcar-layout disk images for tests, the
// demo and benchmarks: a sparse file with the exact partition table of
// flatcar_production_image.bin (sectors, type and unique GUIDs, names,
// USR-A's gptprio attributes, disk GUID), a recognisable marker in MBR bytes
// 0-439, and real filesystems made with the mkfs options Flatcar uses:
// FAT32 ESP (mkfs.vfat + mtools), btrfs USR-A with os-release and btrfs OEM
// (mkfs.btrfs --mixed -m single -d single --rootdir), ext4 ROOT
// (mke2fs -t ext4 -b 4096 -i 4096 -I 256). Generation takes seconds and
// writes a few tens of MB; everything else is holes.
//
// It also makes small sample sysext images (squashfs via mksquashfs).
package testimage
