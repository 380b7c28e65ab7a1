package main

import (
	"math"
	"strings"
)

// nodeStringArray formats a list of strings as Node.js's console.log
// prints an array of strings (util.inspect with its defaults: break length
// 80, compact 3, long arrays grouped in columns), so that setup's
// "Set up participants [ ... ]" line is msgflo-setup's, byte for byte.
// The strings are roles: quoted with single quotes, as Node does for
// strings without a single quote in them.
func nodeStringArray(items []string) string {
	if len(items) == 0 {
		return "[]"
	}
	const breakLength = 80
	output := make([]string, len(items))
	for i, s := range items {
		output[i] = "'" + strings.ReplaceAll(s, `\`, `\\`) + "'"
	}
	entries := len(output)
	if len(output) > 6 {
		output = nodeGroupArray(output, breakLength)
	}
	if entries == len(output) {
		start := len(output) + 1 + 10
		total := len(output) + start
		fits := total+len(output) <= breakLength
		for _, o := range output {
			total += len(o)
			if total > breakLength {
				fits = false
			}
		}
		if fits {
			return "[ " + strings.Join(output, ", ") + " ]"
		}
	}
	return "[\n  " + strings.Join(output, ",\n  ") + "\n]"
}

// nodeGroupArray is Node's groupArrayElements for string entries: rows of
// as many columns as look square, each cell padded to its column's width.
func nodeGroupArray(output []string, breakLength int) []string {
	const separatorSpace = 2
	total, maxLength := 0, 0
	for _, o := range output {
		total += len(o) + separatorSpace
		maxLength = max(maxLength, len(o))
	}
	actualMax := maxLength + separatorSpace
	if !(actualMax*3 < breakLength && (float64(total)/float64(actualMax) > 5 || maxLength <= 6)) {
		return output
	}
	averageBias := math.Sqrt(float64(actualMax) - float64(total)/float64(len(output)))
	biasedMax := math.Max(float64(actualMax)-3-averageBias, 1)
	columns := min(
		int(math.Round(math.Sqrt(2.5*biasedMax*float64(len(output)))/biasedMax)),
		breakLength/actualMax,
		3*4,
		15,
	)
	if columns <= 1 {
		return output
	}
	widths := make([]int, columns)
	for i := range columns {
		for j := i; j < len(output); j += columns {
			widths[i] = max(widths[i], len(output[j]))
		}
		widths[i] += separatorSpace
	}
	var rows []string
	for i := 0; i < len(output); i += columns {
		end := min(i+columns, len(output))
		var row strings.Builder
		for j := i; j < end-1; j++ {
			cell := output[j] + ", "
			row.WriteString(cell + strings.Repeat(" ", max(0, widths[j-i]-len(cell))))
		}
		row.WriteString(output[end-1])
		rows = append(rows, row.String())
	}
	return rows
}
