package food

import (
	"fmt"
	"image/color"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// PlotCDF draws the probe's latency CDF per path, the way the paper drew
// FOOD against FreeDB: the fraction of requests (failures count as never
// finishing) done within each latency. The legend gives each path's
// success rate. The file's extension picks the format (.png, .svg).
func PlotCDF(samples []Sample, path, title string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "latency (ms, log scale)"
	p.Y.Label.Text = "fraction of requests done"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = false
	colors := []color.Color{color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}}
	type series struct {
		name string
		lat  []time.Duration
		n    int
	}
	var all []*series
	add := func(name string, d time.Duration, ok bool) {
		i := slices.IndexFunc(all, func(s *series) bool { return s.name == name })
		if i < 0 {
			all = append(all, &series{name: name})
			i = len(all) - 1
		}
		all[i].n++
		if ok {
			all[i].lat = append(all[i].lat, d)
		}
	}
	for _, s := range samples {
		add(s.Path, s.Latency, s.OK)
		if s.Path == "proxy" {
			add("proxy, query only", s.First, s.OK)
		}
	}
	for i, s := range all {
		slices.Sort(s.lat)
		pts := make(plotter.XYs, 0, len(s.lat))
		for j, d := range s.lat {
			ms := max(float64(d)/float64(time.Millisecond), 0.01)
			pts = append(pts, plotter.XY{X: ms, Y: float64(j+1) / float64(s.n)})
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = colors[i%len(colors)]
		l.Width = vg.Points(1.5)
		if i == 2 {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s: %d/%d ok (%.2f%%)", s.name, len(s.lat), s.n, 100*float64(len(s.lat))/float64(s.n)), l)
	}
	p.Legend.ThumbnailWidth = vg.Points(20)
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
