package cddb

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// File is one file of a corpus as Walk finds it.
type File struct {
	// Path is the file's path; Category its directory's name; Name its
	// own, the disc ID it is stored under.
	Path, Category, Name string
	// DiscID is Name read as hex.
	DiscID uint32
	// Data is the file's content (nil when Err is set).
	Data []byte
	// Err says why the file cannot be a record: a category directory
	// FreeDB does not have, a name that is not a disc ID, a file too large
	// or unreadable. Parse judges the content.
	Err error
}

// Walk calls fn for every file under root in the layout of FreeDB's dump,
// root/<category>/<discid>, in category then name order. Files elsewhere
// (at the top, in deeper directories, in unknown categories) are reported
// through File.Err, never skipped silently. An error fn returns stops the
// walk.
func Walk(root string, fn func(File) error) error {
	top, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, c := range top {
		p := filepath.Join(root, c.Name())
		if !c.IsDir() {
			if err := fn(File{Path: p, Name: c.Name(), Err: errors.New("not in a category directory")}); err != nil {
				return err
			}
			continue
		}
		if !slices.Contains(Categories, c.Name()) {
			if err := fn(File{Path: p, Category: c.Name(), Err: fmt.Errorf("%q is not a FreeDB category", c.Name())}); err != nil {
				return err
			}
			continue
		}
		files, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := fn(readFile(filepath.Join(p, f.Name()), c.Name(), f)); err != nil {
				return err
			}
		}
	}
	return nil
}

func readFile(path, categ string, de fs.DirEntry) File {
	f := File{Path: path, Category: categ, Name: de.Name()}
	id, err := strconv.ParseUint(de.Name(), 16, 32)
	switch {
	case de.IsDir():
		f.Err = errors.New("a directory inside a category")
		return f
	case len(de.Name()) != 8 || err != nil:
		f.Err = errors.New("name is not a disc ID (8 hex digits)")
		return f
	}
	f.DiscID = uint32(id)
	fh, err := os.Open(path)
	if err != nil {
		f.Err = err
		return f
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxRecordLen+1))
	switch {
	case err != nil:
		f.Err = err
	case len(data) > MaxRecordLen:
		f.Err = fmt.Errorf("longer than %d bytes", MaxRecordLen)
	default:
		f.Data = data
	}
	return f
}
