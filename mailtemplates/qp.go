package mailtemplates

const qpMaxLine = 76 // RFC 2045 §6.7: encoded lines at most 76 characters

const hexUpper = "0123456789ABCDEF"

// appendQP appends the quoted-printable encoding of s to dst as if the
// current line already held col characters, and returns the new column.
// A '\n' in s becomes a hard CRLF line break; '\r' is dropped. Space and
// tab are encoded when they would end a line or the segment, so a
// following soft break or a relay that trims trailing blanks cannot change
// the text.
//
// Encoding segment by segment is what lets a campaign be encoded once: a
// recipient's name is encoded on its own and joined to the pre-encoded
// neighbours with soft line breaks, which decoders remove.
func appendQP(dst []byte, s string, col int) ([]byte, int) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			dst = append(dst, '\r', '\n')
			col = 0
			continue
		case c == '\r':
			continue
		}
		// A dot that starts a line is encoded, so the message never needs
		// SMTP dot-stuffing and can be written to the server as it is.
		literal := c >= 33 && c <= 126 && c != '=' && !(c == '.' && col == 0)
		if c == ' ' || c == '\t' {
			literal = i+1 < len(s) && s[i+1] != '\n' && s[i+1] != '\r'
		}
		w := 3
		if literal {
			w = 1
		}
		if col+w > qpMaxLine-1 {
			dst = append(dst, '=', '\r', '\n')
			col = 0
		}
		if literal {
			dst = append(dst, c)
		} else {
			dst = append(dst, '=', hexUpper[c>>4], hexUpper[c&15])
		}
		col += w
	}
	return dst, col
}

// appendSoftBreak ends the current encoded line without adding text.
func appendSoftBreak(dst []byte, col int) ([]byte, int) {
	if col == 0 {
		return dst, 0
	}
	return append(dst, '=', '\r', '\n'), 0
}
