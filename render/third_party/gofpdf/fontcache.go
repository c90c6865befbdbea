package gofpdf

// PATCH(invoicegw): this file is not part of upstream gofpdf; see PATCHES.md.

import (
	"bytes"
	"hash/maphash"
	"sync"
)

// parsedUTF8Font is a UTF-8 TrueType font parsed once and shared, read-only, by
// every document that registers the same font bytes.
type parsedUTF8Font struct {
	bytes []byte       // a private copy of the font file, also the cache key
	file  utf8FontFile // as parseFile left it; documents get copies (newFile)
	desc  FontDescType
	up    int
	ut    int

	idsMu sync.Mutex
	ids   map[string]string // font key -> generateFontID of the definition
}

// utf8FontCache maps a hash of font bytes to the fonts parsed from them. Fonts
// are few and live as long as the process, so entries are never evicted.
var utf8FontCache struct {
	sync.Mutex
	seed   maphash.Seed
	byHash map[uint64][]*parsedUTF8Font
}

// parseUTF8FontCached returns the parsed font for utf8Bytes, parsing it on first
// use. Lookups compare the full bytes, so equal content, not identity, is shared,
// and the caller may reuse or change its slice afterwards.
func parseUTF8FontCached(utf8Bytes []byte) (*parsedUTF8Font, error) {
	c := &utf8FontCache
	c.Lock()
	if c.byHash == nil {
		c.seed = maphash.MakeSeed()
		c.byHash = make(map[uint64][]*parsedUTF8Font)
	}
	seed := c.seed
	c.Unlock()

	h := maphash.Bytes(seed, utf8Bytes)
	c.Lock()
	for _, p := range c.byHash[h] {
		if bytes.Equal(p.bytes, utf8Bytes) {
			c.Unlock()
			return p, nil
		}
	}
	c.Unlock()

	// Parse outside the lock; two first uses may both parse, one result is kept.
	p := &parsedUTF8Font{bytes: append([]byte(nil), utf8Bytes...), ids: map[string]string{}}
	p.file.fileReader = &fileReader{array: p.bytes}
	if err := p.file.parseFile(); err != nil {
		return nil, err
	}
	// Prepare subsetting on a throwaway copy: prepareCut moves the parse state
	// that the definition below reads (widths are rescaled per 1000 em by parseFile).
	scratch := p.file
	scratch.fileReader = &fileReader{array: p.bytes}
	p.file.prep = scratch.prepareCut()
	p.desc = FontDescType{
		Ascent:       int(p.file.Ascent),
		Descent:      int(p.file.Descent),
		CapHeight:    p.file.CapHeight,
		Flags:        p.file.Flags,
		FontBBox:     p.file.Bbox,
		ItalicAngle:  p.file.ItalicAngle,
		StemV:        p.file.StemV,
		MissingWidth: round(p.file.DefaultWidth),
	}
	p.up = int(round(p.file.UnderlinePosition))
	p.ut = round(p.file.UnderlineThickness)

	c.Lock()
	defer c.Unlock()
	for _, q := range c.byHash[h] {
		if bytes.Equal(q.bytes, utf8Bytes) {
			return q, nil
		}
	}
	c.byHash[h] = append(c.byHash[h], p)
	return p, nil
}

// newFile returns a document's own copy of the parsed font. GenerateCutFont
// reassigns (never mutates in place) the maps and slices it changes, and reads
// the font through its own fileReader, so a shallow copy is enough.
func (p *parsedUTF8Font) newFile() *utf8FontFile {
	file := p.file
	file.fileReader = &fileReader{array: p.bytes}
	return &file
}

// id is generateFontID of the font's definition under fontKey, computed once:
// it marshals the 65536-entry width table to JSON.
func (p *parsedUTF8Font) id(fontKey string) string {
	p.idsMu.Lock()
	defer p.idsMu.Unlock()
	if id, ok := p.ids[fontKey]; ok {
		return id
	}
	id, _ := generateFontID(fontDefType{
		Tp:   "UTF8",
		Name: fontKey,
		Desc: p.desc,
		Up:   p.up,
		Ut:   p.ut,
		Cw:   p.file.CharWidths,
	})
	p.ids[fontKey] = id
	return id
}
