function names = list_dir(d)
%LIST_DIR Names in folder d, taken literally (Octave's dir expands glob characters such as [x] and *).
if exist('readdir', 'builtin') || exist('readdir') == 2 %#ok<EXIST>
    names = readdir(d);
else
    entries = dir(d);
    names = {entries.name}';
end
end
