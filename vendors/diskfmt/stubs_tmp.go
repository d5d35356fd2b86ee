package diskfmt

type VMDKSparse struct{ Raw }
type VMDKStream struct{ Raw }
type VHDFixed struct{ Raw }
type VHDDynamic struct{ Raw }
type VHDX struct{ Raw }
type Parallels struct{ Raw }
