package decompress

// minRun is the shortest run of one byte kept as a run segment rather
// than copied into the literal bytes.
const minRun = 32

// unRLE undoes bzip2's first run-length stage (four equal bytes are
// followed by a count of 0..255 more) into segments, and computes the
// block CRC. Runs are kept as runs, so a block of zeros costs almost
// nothing.
func unRLE(pre []byte, o *blockOut) {
	o.reset()
	crc := ^uint32(0)
	lit := o.lit
	segs := o.segs
	litStart := 0
	var size int64
	n := len(pre)
	i := 0
	last, cnt := -1, 0
	for i < n {
		b := pre[i]
		i++
		lit = append(lit, b)
		if int(b) != last {
			last, cnt = int(b), 1
			continue
		}
		cnt++
		if cnt < 4 {
			continue
		}
		last, cnt = -1, 0
		if i >= n {
			break
		}
		z := int64(pre[i])
		i++
		total := z + 4
		if len(lit)-4 == litStart && len(segs) > 0 && segs[len(segs)-1].b == b {
			// Directly continues the previous run.
			lit = lit[:litStart]
			segs[len(segs)-1].run += total
			continue
		}
		if total < minRun {
			for ; z > 0; z-- {
				lit = append(lit, b)
			}
			continue
		}
		lit = lit[:len(lit)-4]
		if len(segs) > 0 {
			s := &segs[len(segs)-1]
			crc = crcRun(crc, s.b, s.run)
			size += s.run
		}
		crc = crcUpdate(crc, lit[litStart:])
		size += int64(len(lit) - litStart)
		segs = append(segs, seg{lit: uint32(len(lit) - litStart), b: b, run: total})
		litStart = len(lit)
	}
	if len(segs) > 0 {
		s := &segs[len(segs)-1]
		crc = crcRun(crc, s.b, s.run)
		size += s.run
	}
	crc = crcUpdate(crc, lit[litStart:])
	size += int64(len(lit) - litStart)
	if len(lit) > litStart {
		segs = append(segs, seg{lit: uint32(len(lit) - litStart)})
	}
	o.lit, o.segs, o.size, o.crc = lit, segs, size, ^crc
}
