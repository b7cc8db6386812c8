package testprovider

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// htmlPage is the part of a provider page that the browser helpers use.
type htmlPage struct {
	title string
	forms []*htmlForm
	// texts maps element ids to their text, for the ids that the error and
	// login pages use ("error", "error_description").
	texts map[string]string
}

// htmlForm is a form with its resolved action and the inputs that a
// submission sends without user input.
type htmlForm struct {
	id     string
	method string // http.MethodGet or http.MethodPost
	action *url.URL
	fields []formField
}

type formField struct {
	name, value string
}

func (p *htmlPage) form(id string) *htmlForm {
	for _, f := range p.forms {
		if f.id == id {
			return f
		}
	}
	return nil
}

// values returns the form's hidden and preset fields.
func (f *htmlForm) values() url.Values {
	values := url.Values{}
	for _, field := range f.fields {
		values.Add(field.name, field.value)
	}
	return values
}

// textIDs are the element ids whose text parsePage collects.
var textIDs = map[string]bool{"error": true, "error_description": true}

// parsePage parses an HTML page served at base. A form's action resolves
// against base, and an empty action means base itself, as in a browser.
// Inputs of type hidden count as fields of their form, including inputs
// placed outside the form that name it in their form attribute.
func parsePage(body []byte, base *url.URL) (*htmlPage, error) {
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	page := &htmlPage{texts: map[string]string{}}
	byID := map[string]*htmlForm{}

	var walk func(n *html.Node, current *htmlForm)
	walk = func(n *html.Node, current *htmlForm) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "title":
				if page.title == "" {
					page.title = strings.TrimSpace(textOf(n))
				}
			case "form":
				form := &htmlForm{
					id:     attr(n, "id"),
					method: http.MethodGet,
					action: base,
				}
				if strings.EqualFold(attr(n, "method"), http.MethodPost) {
					form.method = http.MethodPost
				}
				if action := attr(n, "action"); action != "" {
					resolved, err := base.Parse(action)
					if err == nil {
						form.action = resolved
					}
				}
				page.forms = append(page.forms, form)
				if form.id != "" {
					byID[form.id] = form
				}
				current = form
			case "input":
				owner := current
				if id := attr(n, "form"); id != "" {
					owner = byID[id]
				}
				name := attr(n, "name")
				if owner != nil && name != "" && strings.EqualFold(attr(n, "type"), "hidden") {
					owner.fields = append(owner.fields, formField{name: name, value: attr(n, "value")})
				}
			}
			if id := attr(n, "id"); textIDs[id] {
				if _, seen := page.texts[id]; !seen {
					page.texts[id] = strings.TrimSpace(textOf(n))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, current)
		}
	}
	walk(doc, nil)
	return page, nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}
